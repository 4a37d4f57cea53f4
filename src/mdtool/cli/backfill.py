"""`mdtool backfill`: store the missing closed bars of one series, or a Binance symbol's trades.

Heavy modules (database, venue clients) are imported when the command runs, so `--help` stays instant.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer

from mdtool.adapters.choices import Via
from mdtool.cli.console import stderr, stdout
from mdtool.cli.venues import Source
from mdtool.config import Settings, load_settings
from mdtool.errors import UsageError
from mdtool.timestamps import parse_user_time

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from mdtool.backfill import BackfillSummary
    from mdtool.progress import BackfillProgress
    from mdtool.sources import BarSource, TickSource
    from mdtool.transfer_progress import TransferProgress

TRADES = "trades"


def backfill(
    source: Annotated[Source, typer.Argument(help="Venue: binance or ibkr.")],
    symbol: Annotated[str, typer.Argument(help="Venue symbol, e.g. BTCUSDT (binance) or AAPL (ibkr).")],
    interval: Annotated[
        str,
        typer.Argument(
            help="Bar interval in Binance spelling: 1s 1m 3m 5m 15m 30m 1h ... 1d 3d 1w 1M; "
            "or `trades` (binance) / `ticks` (ibkr) for trade history into market_data_ticks."
        ),
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
    via: Annotated[
        Via,
        typer.Option(
            help="binance: auto (archive files where they save requests, REST for the rest), "
            "archive (archive files only) or rest (REST only)."
        ),
    ] = Via.auto,
    sec_type: Annotated[str, typer.Option(help="ibkr: STK, FUT, CASH or IND.")] = "STK",
    exchange: Annotated[str, typer.Option(help="ibkr: routing exchange (IDEALPRO for CASH).")] = "SMART",
    currency: Annotated[str, typer.Option(help="ibkr: contract currency.")] = "USD",
    expiry: Annotated[str | None, typer.Option(help="ibkr: FUT expiry, YYYYMM or YYYYMMDD.")] = None,
    what_to_show: Annotated[
        str | None,
        typer.Option(
            help="ibkr bars: TRADES, MIDPOINT, BID, ASK... (default TRADES; MIDPOINT for CASH). "
            "ibkr ticks: TRADES (source ibkr.AllLast, the default) or BID_ASK (ibkr.BidAsk)."
        ),
    ] = None,
    rth: Annotated[bool, typer.Option("--rth/--all-hours", help="ibkr: regular trading hours only.")] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="binance bars: processes that share a long span, each fetching and storing a "
            "contiguous part (one process uses about one core; parts under 10,000 bars are not split).",
        ),
    ] = 1,
) -> None:
    """Store the missing closed bars of one series (resumable, gap-repairing, cron-safe).

    Examples:

      mdtool backfill binance BTCUSDT 1m --since 2024-01-01

      mdtool backfill binance BTCUSDT 1m    # cron mode: after the newest bar

      mdtool backfill binance BTCUSDT 1m --since 2020-01-01 --via rest --workers 2    # two processes

      mdtool backfill binance BTCUSDT trades --since 2024-06-01    # archive zips, then REST

      mdtool backfill binance BTCUSDT trades    # cron mode: after the highest stored trade id

      mdtool backfill ibkr AAPL 1h --since 2025-01-01 --all-hours

      mdtool backfill ibkr AAPL ticks --since 2025-06-02T13:30    # the rows `mdtool stream ibkr` writes

      mdtool backfill ibkr AAPL ticks --what-to-show BID_ASK      # cron mode: after the newest tick
    """
    from mdtool.adapters import binance, ibkr
    from mdtool.backfill import BackfillRequest, run_backfill
    from mdtool.backfill_processes import BackfillWorkers
    from mdtool.tick_backfill import run_tick_backfill

    if workers > 1 and (source is not Source.binance or interval == TRADES):
        raise UsageError("--workers applies to binance bars only")
    if interval == TRADES:
        if source is not Source.binance:
            raise UsageError(f"`trades` history is available for binance only, not {source.value}")
        if until is not None:
            raise UsageError("--until is not supported for trades: they are imported up to now")
        _backfill_trades(symbol, since, via, refetch, wait_for_lock)
        return
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
    shared: BackfillWorkers | None = None
    if source is Source.binance:
        bar_source = binance.make_bar_source(settings, via)
        shared = BackfillWorkers(workers, partial(binance.make_bar_source, settings, via))
    else:
        spec = ibkr.ContractSpec(
            sec_type=sec_type.upper(), exchange=exchange, currency=currency, expiry=expiry,
            what_to_show=what_to_show, use_rth=rth,
        )  # fmt: skip
        if interval.lower() == "ticks":
            ticks = ibkr.make_tick_source(settings, spec)
            _print(_run(settings, ticks, lambda db, shown: run_tick_backfill(db, ticks, request, shown)))
            return
        bar_source = ibkr.make_bar_source(settings, spec)
    summary = _run(
        settings, bar_source, lambda db, shown: run_backfill(db, bar_source, request, shown, workers=shared)
    )
    origins = f" ({bar_source.origins()})" if isinstance(bar_source, binance.ArchiveBarSource) else ""
    _print(summary, origins)


def _run(
    settings: Settings,
    source: BarSource | TickSource,
    driver: Callable[[Engine, BackfillProgress], BackfillSummary],
) -> BackfillSummary:
    """Run one driver with the database, progress display and the source's cleanup."""
    from mdtool.migrate import ensure_schema
    from mdtool.progress import LogBackfillProgress, RichBackfillProgress
    from mdtool.storage.engine import create_engine, warn_if_plain_postgres

    engine = create_engine(settings.database_url)
    progress: BackfillProgress = RichBackfillProgress(stderr) if stderr.is_terminal else LogBackfillProgress()
    try:
        ensure_schema(engine)
        warn_if_plain_postgres(engine)
        return driver(engine, progress)
    finally:
        source.close()
        engine.dispose()


def _print(summary: BackfillSummary, suffix: str = "") -> None:
    stdout.print(summary.line() + suffix, highlight=False, soft_wrap=True)


def _backfill_trades(symbol: str, since: str | None, via: Via, refetch: bool, lock_wait: float) -> None:
    """`mdtool backfill binance SYMBOL trades`: archive files, then REST by id (`trades_backfill`)."""
    from mdtool.adapters import binance
    from mdtool.migrate import ensure_schema
    from mdtool.storage.engine import create_engine, warn_if_plain_postgres
    from mdtool.trades_backfill import TradesRequest, run_trades_backfill
    from mdtool.transfer_progress import LogTransferProgress, RichTransferProgress

    request = TradesRequest(
        symbol=symbol,
        since=parse_user_time(since, "--since") if since else None,
        via=via,
        refetch=refetch,
        lock_wait=lock_wait,
    )
    settings = load_settings()
    history = binance.make_trade_history(settings)
    engine = create_engine(settings.database_url)
    progress: TransferProgress = RichTransferProgress(stderr) if stderr.is_terminal else LogTransferProgress()
    try:
        ensure_schema(engine)
        warn_if_plain_postgres(engine)
        summary = run_trades_backfill(engine, history, request, progress)
    finally:
        history.close()
        engine.dispose()
    stdout.print(summary.line(), highlight=False, soft_wrap=True)
