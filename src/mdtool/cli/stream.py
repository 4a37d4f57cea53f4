"""`mdtool stream`: store live trades until SIGINT/SIGTERM.

Heavy modules (database, venue clients) are imported when the command runs, so `--help` stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mdtool.adapters.choices import DEFAULT_STREAMS_PER_CONNECTION
from mdtool.cli.console import stderr, stdout
from mdtool.cli.venues import Source
from mdtool.config import load_settings
from mdtool.gc_tuning import tune_for_streaming
from mdtool.selection import Selection

if TYPE_CHECKING:
    from mdtool.sources import SelectionStream, TickStream


def stream(
    source: Annotated[Source, typer.Argument(help="Venue: binance or ibkr.")],
    symbols: Annotated[
        list[str] | None,
        typer.Argument(help="Symbols (BTCUSDT) and, for binance, shell-style patterns ('*USDT')."),
    ] = None,
    every_listed: Annotated[
        bool, typer.Option("--all", help="binance: every symbol whose status is TRADING.")
    ] = False,
    quote: Annotated[
        str | None, typer.Option(help="binance: only symbols quoted in this asset, e.g. USDT.")
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(help="I/N: keep a stable hash share of the selection (N hosts split a market)."),
    ] = None,
    streams_per_connection: Annotated[
        int, typer.Option(help="binance: streams per WebSocket connection (Binance allows 1024).")
    ] = DEFAULT_STREAMS_PER_CONNECTION,
    bid_ask: Annotated[
        bool, typer.Option(help="ibkr: also store BidAsk ticks (source ibkr.BidAsk).")
    ] = False,
    sec_type: Annotated[str, typer.Option(help="ibkr: STK, FUT, CASH or IND.")] = "STK",
    exchange: Annotated[str, typer.Option(help="ibkr: routing exchange.")] = "SMART",
    currency: Annotated[str, typer.Option(help="ibkr: contract currency.")] = "USD",
    expiry: Annotated[str | None, typer.Option(help="ibkr: FUT expiry.")] = None,
) -> None:
    """Store live trades until SIGINT/SIGTERM, which flush what is buffered and exit 0. Reconnects itself.

    For binance a selection is resolved from exchangeInfo and kept current (new symbols subscribed,
    halted or delisted ones unsubscribed); symbols are spread over connections within Binance's
    WebSocket limits, and trades missed across reconnects are filled over REST.

    Examples:

      mdtool stream binance BTCUSDT ETHUSDT

      mdtool stream binance --all                     # every TRADING symbol

      mdtool stream binance --quote USDT              # every TRADING symbol quoted in USDT

      mdtool stream binance '*USDT' 'BTC*'            # shell-style patterns (quote them)

      mdtool stream binance --all --shard 1/3         # host 1 of 3; hosts 2 and 3 run 2/3 and 3/3
    """
    from mdtool.adapters import ibkr
    from mdtool.migrate import ensure_schema
    from mdtool.storage.engine import create_engine, warn_if_plain_postgres
    from mdtool.stream import run_stream
    from mdtool.stream_sources import binance_tick_stream
    from mdtool.stream_status import LiveStatusLine, LoggedStatus

    selection = Selection.from_arguments(symbols or [], every_listed=every_listed, quote=quote, shard=shard)
    settings = load_settings()
    engine = create_engine(settings.database_url)
    ensure_schema(engine)
    warn_if_plain_postgres(engine)
    tick_stream: TickStream | SelectionStream
    if source is Source.binance:
        tick_stream = binance_tick_stream(engine, settings, streams_per_connection=streams_per_connection)
    else:
        spec = ibkr.ContractSpec(
            sec_type=sec_type.upper(), exchange=exchange, currency=currency, expiry=expiry
        )
        tick_stream = ibkr.make_tick_stream(settings, spec, bid_ask)
    status_line = LiveStatusLine(stderr) if stderr.is_terminal else LoggedStatus()
    tune_for_streaming()
    try:
        summary = run_stream(engine, tick_stream, selection, on_status=status_line)
    finally:
        status_line.close()
        engine.dispose()
    stdout.print(summary.line(), highlight=False, soft_wrap=True)
