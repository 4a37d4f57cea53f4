"""`mdtool stream`: store live trades until SIGINT/SIGTERM."""

from __future__ import annotations

from typing import Annotated

import typer

from mdtool.adapters import binance, ibkr
from mdtool.cli.console import stderr, stdout
from mdtool.cli.venues import Source
from mdtool.config import load_settings
from mdtool.migrate import ensure_schema
from mdtool.sources import TickStream
from mdtool.storage.engine import create_engine, warn_if_plain_postgres
from mdtool.stream import run_stream
from mdtool.stream_status import LiveStatusLine, LoggedStatus


def stream(
    source: Annotated[Source, typer.Argument(help="Venue: binance or ibkr.")],
    symbols: Annotated[list[str], typer.Argument(help="One or more symbols, e.g. BTCUSDT ETHUSDT.")],
    bid_ask: Annotated[
        bool, typer.Option(help="ibkr: also store BidAsk ticks (source ibkr.BidAsk).")
    ] = False,
    sec_type: Annotated[str, typer.Option(help="ibkr: STK, FUT, CASH or IND.")] = "STK",
    exchange: Annotated[str, typer.Option(help="ibkr: routing exchange.")] = "SMART",
    currency: Annotated[str, typer.Option(help="ibkr: contract currency.")] = "USD",
    expiry: Annotated[str | None, typer.Option(help="ibkr: FUT expiry.")] = None,
) -> None:
    """Store live trades until SIGINT/SIGTERM, which flush what is buffered and exit 0. Reconnects itself."""
    settings = load_settings()
    engine = create_engine(settings.database_url)
    ensure_schema(engine)
    warn_if_plain_postgres(engine)
    tick_stream: TickStream
    if source is Source.binance:
        from mdtool.storage.queries import newest_numeric_trade_id

        def last_trade_id(symbol: str) -> int | None:
            return newest_numeric_trade_id(engine, "binance", symbol, "trade")

        tick_stream = binance.make_tick_stream(settings, last_trade_id)
    else:
        spec = ibkr.ContractSpec(
            sec_type=sec_type.upper(), exchange=exchange, currency=currency, expiry=expiry
        )
        tick_stream = ibkr.make_tick_stream(settings, spec, bid_ask)
    status_line = LiveStatusLine(stderr) if stderr.is_terminal else LoggedStatus()
    try:
        summary = run_stream(engine, tick_stream, [s.upper() for s in symbols], on_status=status_line)
    finally:
        status_line.close()
        engine.dispose()
    stdout.print(summary.line(), highlight=False, soft_wrap=True)
