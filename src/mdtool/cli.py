"""The `mdtool` command line: thin Typer commands that parse, call one library function, and print.

Errors are caught here, at the edge: an `MdtoolError` becomes one `error: ...` line on stderr and the
exit code DESIGN.md fixes; a traceback appears only with `--debug` or `MDTOOL_DEBUG=1`.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum
from typing import Annotated, NoReturn

import typer
from rich.console import Console

# Typer 0.29 vendors click; its exception classes live only in this module.
from typer._click import exceptions as click_exceptions

from mdtool import __version__
from mdtool.adapters import binance, ibkr
from mdtool.backfill import BackfillRequest, run_backfill
from mdtool.cli_dtc import run_dtc_push
from mdtool.cli_webhook import run_serve_webhook
from mdtool.config import load_settings
from mdtool.errors import MdtoolError
from mdtool.logs import configure_logging
from mdtool.migrate import ensure_schema, upgrade
from mdtool.progress import BackfillProgress, LogBackfillProgress, RichBackfillProgress
from mdtool.sources import BarSource, TickStream
from mdtool.storage.engine import create_engine, warn_if_plain_postgres
from mdtool.stream import run_stream
from mdtool.stream_status import LiveStatusLine, LoggedStatus
from mdtool.timestamps import parse_user_time

log = logging.getLogger("mdtool.cli")
stderr = Console(stderr=True)
stdout = Console()

app = typer.Typer(
    name="mdtool",
    help="Ingest market data exactly and idempotently into PostgreSQL/TimescaleDB (or SQLite).\n\n"
    "The database comes from MARKET_DATA_DATABASE_URL (default: sqlite:///mdtool.db in the current "
    "directory); a .env file in the working directory is read too.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Source(StrEnum):
    """Venues with historical bars and live ticks."""

    binance = "binance"
    ibkr = "ibkr"


def _version(value: bool) -> None:
    if value:
        stdout.print(f"mdtool {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", envvar="MDTOOL_DEBUG", help="Verbose logs and full tracebacks.")
    ] = False,
    _show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    configure_logging(debug, stderr)


@app.command()
def migrate() -> None:
    """Create or upgrade the schema to the newest revision (idempotent; safe to run on every deploy)."""
    settings = load_settings()
    revision = upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    warn_if_plain_postgres(engine)
    engine.dispose()
    stdout.print(f"schema at revision {revision}")


@app.command()
def backfill(
    source: Annotated[Source, typer.Argument(help="Venue: binance or ibkr.")],
    symbol: Annotated[str, typer.Argument(help="Venue symbol, e.g. BTCUSDT (binance) or AAPL (ibkr).")],
    interval: Annotated[
        str, typer.Argument(help="Bar interval in Binance spelling: 1s 1m 3m 5m 15m 30m 1h ... 1d 3d 1w 1M.")
    ],
    since: Annotated[
        str | None,
        typer.Option(
            help="Start (ISO-8601 date or datetime, UTC unless an offset is given). "
            "Omit to resume after the newest stored bar (cron mode)."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="End (same format): keeps the bars that have closed by then. Default: now."),
    ] = None,
    refetch: Annotated[
        bool, typer.Option(help="Download the whole range again and upsert it (fixes corrected bars).")
    ] = False,
    wait_for_lock: Annotated[
        float,
        typer.Option(help="Seconds to wait when another run holds this series (default: fail at once)."),
    ] = 0.0,
    sec_type: Annotated[str, typer.Option(help="ibkr: STK, FUT, CASH or IND.")] = "STK",
    exchange: Annotated[str, typer.Option(help="ibkr: routing exchange (IDEALPRO for CASH).")] = "SMART",
    currency: Annotated[str, typer.Option(help="ibkr: contract currency.")] = "USD",
    expiry: Annotated[str | None, typer.Option(help="ibkr: FUT expiry, YYYYMM or YYYYMMDD.")] = None,
    what_to_show: Annotated[
        str | None,
        typer.Option(help="ibkr: TRADES, MIDPOINT, BID, ASK... (default TRADES; MIDPOINT for CASH)."),
    ] = None,
    rth: Annotated[bool, typer.Option("--rth/--all-hours", help="ibkr: regular trading hours only.")] = True,
) -> None:
    """Store the missing closed bars of one series (resumable, gap-repairing, cron-safe).

    Examples:

      mdtool backfill binance BTCUSDT 1m --since 2024-01-01

      mdtool backfill binance BTCUSDT 1m    # cron mode: after the newest bar

      mdtool backfill ibkr AAPL 1h --since 2025-01-01 --all-hours
    """
    request = BackfillRequest(
        symbol=symbol,
        interval=interval,
        since=parse_user_time(since, "--since") if since else None,
        until=parse_user_time(until, "--until") if until else None,
        refetch=refetch,
        lock_wait=wait_for_lock,
    )
    settings = load_settings()
    bar_source: BarSource
    if source is Source.binance:
        bar_source = binance.make_bar_source(settings)
    else:
        spec = ibkr.ContractSpec(
            sec_type=sec_type.upper(), exchange=exchange, currency=currency, expiry=expiry,
            what_to_show=what_to_show, use_rth=rth,
        )  # fmt: skip
        bar_source = ibkr.make_bar_source(settings, spec)
    engine = create_engine(settings.database_url)
    progress: BackfillProgress = RichBackfillProgress(stderr) if stderr.is_terminal else LogBackfillProgress()
    try:
        ensure_schema(engine)
        warn_if_plain_postgres(engine)
        summary = run_backfill(engine, bar_source, request, progress)
    finally:
        bar_source.close()
        engine.dispose()
    stdout.print(summary.line(), highlight=False, soft_wrap=True)


@app.command()
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


@app.command("serve-webhook")
def serve_webhook(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.", min=1)] = 1,
) -> None:
    """Serve /health and the signed TradingView webhook (needs TRADINGVIEW_HMAC_SECRET, >= 16 bytes).

    POST alerts to /webhooks/tradingview with X-Signature = hex HMAC-SHA256 of the raw body. Bodies
    above MDTOOL_WEBHOOK_MAX_BODY bytes (default 65536) get 413.
    """
    raise typer.Exit(run_serve_webhook(host, port, workers))


@app.command("dtc-push")
def dtc_push(
    listen: Annotated[str, typer.Option(help="HOST:PORT to accept DTC clients on.")] = "127.0.0.1:11099",
    username: Annotated[str | None, typer.Option(help="Require this logon username.")] = None,
    password: Annotated[str | None, typer.Option(help="Require this logon password.")] = None,
) -> None:
    """Serve stored bars and live ticks to Sierra Chart (or any DTC client) over the DTC protocol.

    Encodings: binary, JSON, compact JSON. Address a series as Symbol BTCUSDT with Exchange binance.
    Subscriptions get a snapshot, then every newly stored tick within 250 ms of its commit.
    """
    raise typer.Exit(run_dtc_push(listen, username, password))


def _fail(message: str, code: int, error: BaseException | None = None) -> NoReturn:
    if error is not None and logging.getLogger("mdtool").isEnabledFor(logging.DEBUG):
        stderr.print_exception()
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    if os.environ.get("MDTOOL_DEBUG", "").lower() in ("1", "true", "yes"):
        logging.getLogger("mdtool").setLevel(logging.DEBUG)
    try:
        result = app(args=argv, standalone_mode=False)
    except MdtoolError as error:
        _fail(str(error), error.exit_code, error)
    except click_exceptions.NoArgsIsHelpError as error:
        error.show()
        sys.exit(2)
    except click_exceptions.UsageError as error:
        _fail(error.format_message().replace("\n", " "), 2)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        _fail("interrupted", 130)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    sys.exit(result if isinstance(result, int) else 0)
