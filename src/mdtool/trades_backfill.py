"""The trades backfill driver: archive files, then REST by id for the holes and the tail, idempotently.

1. Start: `--since`, or the newest stored trade (cron mode: resume after the highest stored id).
2. Archive: the files covering [start, now) that are not recorded as imported (`--refetch` ignores the
   record). On PostgreSQL each verified zip's CSV goes to the database's own CSV parser (`bulk_copy`);
   elsewhere it becomes `Tick` records through `writer.write_ticks`. Both store exactly the live
   stream's rows, so archive, REST and stream data meet without duplicates (`ON CONFLICT DO NOTHING`).
3. REST: ids missing between stored trades (a file the archive lacks, a stream outage) are asked for
   by `fromId`, then the tail after the highest stored id, until Binance has no more. Ids that REST does
   not have either are holes in the venue's own data: reported, never invented over.

The series lock, the summary and the progress reporting work as for bars (`mdtool.backfill`).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import Engine

from mdtool.adapters.binance.archive import Via
from mdtool.adapters.binance.archive_fetch import Downloaded
from mdtool.adapters.binance.archive_trades import REST_PAGE, BinanceTradeHistory
from mdtool.errors import UsageError
from mdtool.records import Tick
from mdtool.storage.bulk_copy import copy_trade_csv
from mdtool.storage.engine import check_connection, is_postgres
from mdtool.storage.locks import series_lock
from mdtool.storage.trade_history import id_holes, imported_files, newest_trade, record_import
from mdtool.storage.writer import write_ticks
from mdtool.transfer_progress import NoTransferProgress, TransferProgress

log = logging.getLogger(__name__)

_MAX_REPORTED_HOLES = 5
_IMPORTS_IN_FLIGHT = 2
"""Files imported at once on PostgreSQL: one stages its CSV while the other COPYs into the table."""


@dataclass(frozen=True)
class TradesRequest:
    """What the user asked for; `since=None` means resume after the newest stored trade."""

    symbol: str
    since: datetime | None = None
    via: Via = Via.auto
    refetch: bool = False
    lock_wait: float = 0.0


@dataclass
class TradesSummary:
    """What one run did, for the summary line."""

    exchange: str
    symbol: str
    start: datetime | None = None
    archive_files: int = 0
    archive_rows: int = 0
    archive_bytes: int = 0
    rest_rows: int = 0
    missing_files: list[str] = field(default_factory=list)
    venue_holes: list[tuple[int, int]] = field(default_factory=list)
    requests: int = 0
    elapsed: float = 0.0

    @property
    def stored(self) -> int:
        return self.archive_rows + self.rest_rows

    def line(self) -> str:
        since = self.start.strftime("%Y-%m-%d %H:%M") if self.start else "?"
        holes = f", {len(self.venue_holes)} id holes left" if self.venue_holes else ""
        missing = f", {len(self.missing_files)} archive files missing" if self.missing_files else ""
        return (
            f"{self.exchange} {self.symbol} trades (from {since}): {self.stored} trades stored "
            f"(archive: {self.archive_rows} from {self.archive_files} files, "
            f"{self.archive_bytes / 1e6:.1f} MB; REST: {self.rest_rows}){missing}{holes}, "
            f"{self.requests} requests, {self.elapsed:.1f} s"
        )


def run_trades_backfill(
    engine: Engine,
    source: BinanceTradeHistory,
    request: TradesRequest,
    progress: TransferProgress | None = None,
) -> TradesSummary:
    """Import the trade history of one symbol from `start` up to now; idempotent and safe to re-run."""
    started = time.monotonic()
    progress = progress or NoTransferProgress()
    check_connection(engine)
    symbol = source.resolve_symbol(request.symbol)
    summary = TradesSummary(source.exchange, symbol)
    with series_lock(engine, f"backfill {source.exchange} {symbol} trades", wait=request.lock_wait):
        newest = newest_trade(engine, source.exchange, symbol, source.source)
        if request.since is not None:
            start = request.since
        elif newest is not None:
            start = newest.timestamp
        else:
            raise UsageError(
                f"no {source.exchange} {symbol} trades stored yet: pass --since to start a backfill"
            )
        summary.start = start
        if request.via is not Via.rest:
            _import_archive(engine, source, symbol, start, request.refetch, summary, progress)
        if request.via is not Via.archive:
            _fill_from_rest(engine, source, symbol, start, summary)
        summary.venue_holes = id_holes(engine, source.exchange, symbol, source.source, start)
        _report_holes(symbol, summary)
    summary.archive_bytes = source.archive.bytes
    summary.requests = source.request_count
    summary.elapsed = time.monotonic() - started
    return summary


def _import_archive(
    engine: Engine,
    source: BinanceTradeHistory,
    symbol: str,
    start: datetime,
    refetch: bool,
    summary: TradesSummary,
    progress: TransferProgress,
) -> None:
    """Every archive file of [start, now) not imported yet, oldest first."""
    done = {} if refetch else imported_files(engine, source.exchange, symbol, source.dataset)
    planned = source.plan(symbol, start).files
    todo = [f for f in planned if not (f.name in done and done[f.name] <= max(start, f.start))]
    if len(todo) < len(planned):
        log.info("archive: %d of %d files already imported", len(planned) - len(todo), len(planned))
    progress.start(f"{source.exchange} {symbol} trades", len(todo))
    workers = _IMPORTS_IN_FLIGHT if is_postgres(engine) else 1
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="archive-import") as pool:
            pending: deque[Future[tuple[Downloaded, datetime, int]]] = deque()
            try:
                for got in source.download(symbol, todo, progress.downloaded, progress.more_files):
                    if got.path is None:
                        progress.file_done()
                        summary.missing_files.append(got.file.name)
                        continue
                    task = (engine, source, symbol, _keep(got), max(start, got.file.start), progress)
                    pending.append(pool.submit(_import_file, *task))
                    while len(pending) >= workers:
                        _imported(engine, source, symbol, pending.popleft().result(), summary, progress)
                while pending:
                    _imported(engine, source, symbol, pending.popleft().result(), summary, progress)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    finally:
        progress.finish()


def _keep(got: Downloaded) -> Downloaded:
    """A second name for a downloaded zip, so it outlives the download loop moving on to the next
    file while it is imported; the import removes it (and closing the client removes any left)."""
    assert got.path is not None
    kept = got.path.with_name(got.path.name + ".import")
    os.link(got.path, kept)
    return replace(got, path=kept)


def _imported(
    engine: Engine,
    source: BinanceTradeHistory,
    symbol: str,
    result: tuple[Downloaded, datetime, int],
    summary: TradesSummary,
    progress: TransferProgress,
) -> None:
    """Book a finished import: the file record (so a re-run skips it), the counts, the progress."""
    got, since, stored = result
    record_import(
        engine, source.exchange, symbol, source.dataset, got.file.name, (since, got.file.end), stored,
        got.sha256,
    )  # fmt: skip
    summary.archive_files += 1
    summary.archive_rows += stored
    progress.file_done()


def _import_file(
    engine: Engine,
    source: BinanceTradeHistory,
    symbol: str,
    got: Downloaded,
    since: datetime,
    progress: TransferProgress,
) -> tuple[Downloaded, datetime, int]:
    """Store one verified zip's trades at or after `since` (then delete it); returns how many were new."""
    assert got.path is not None
    try:
        if is_postgres(engine):
            with source.csv(got) as (stream, header):
                _, stored = copy_trade_csv(
                    engine, stream, header=header, exchange=source.exchange, symbol=symbol,
                    source=source.source, since=since, until=got.file.end, on_rows=progress.rows,
                )  # fmt: skip
            return got, since, stored
        stored = 0
        for page in source.ticks(got, symbol):
            kept = [tick for tick in page if tick.timestamp >= since]
            stored += write_ticks(engine, kept)
            progress.rows(len(page))
        return got, since, stored
    finally:
        got.path.unlink(missing_ok=True)


def _fill_from_rest(
    engine: Engine, source: BinanceTradeHistory, symbol: str, start: datetime, summary: TradesSummary
) -> None:
    """Missing ids between stored trades, then the tail after the highest stored id."""
    for first, last in id_holes(engine, source.exchange, symbol, source.source, start):
        summary.rest_rows += _rest_span(engine, source, symbol, first, last)
    newest = newest_trade(engine, source.exchange, symbol, source.source)
    if newest is None or newest.timestamp < start:
        log.warning(
            "REST: no %s trade stored at or after %s to continue from (historicalTrades pages by id); "
            "the archive has nothing for that span yet",
            symbol,
            start.astimezone(UTC),
        )
        return
    summary.rest_rows += _rest_span(engine, source, symbol, newest.trade_id + 1, None)


def _rest_span(engine: Engine, source: BinanceTradeHistory, symbol: str, first: int, last: int | None) -> int:
    """Trades with ids in [first, last] (`last=None`: until Binance has no more); returns rows stored."""
    stored = 0
    from_id = first
    while last is None or from_id <= last:
        page: list[Tick] = source.rest_page(symbol, from_id)
        kept = [t for t in page if last is None or int(t.trade_id) <= last]
        stored += write_ticks(engine, kept)
        if len(page) < REST_PAGE or len(kept) < len(page) or not page:
            break
        from_id = int(page[-1].trade_id) + 1
    return stored


def _report_holes(symbol: str, summary: TradesSummary) -> None:
    for first, last in summary.venue_holes[:_MAX_REPORTED_HOLES]:
        log.warning("%s: trade ids %d..%d are not in Binance's data (archive or REST)", symbol, first, last)
    if len(summary.venue_holes) > _MAX_REPORTED_HOLES:
        log.warning("%s: %d more id holes", symbol, len(summary.venue_holes) - _MAX_REPORTED_HOLES)
