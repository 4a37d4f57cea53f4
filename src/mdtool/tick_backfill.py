"""The tick-series mode of the backfill driver: the same resume, gap repair, empty-range memory,
locking, pipelined writes, progress and summary as for bars (`mdtool.backfill`), over a `TickSource`.

A tick series has no bar grid, so it is judged by the minute: a whole minute with no stored tick of the
feed is missing, and a minute the venue answered empty (a night, a weekend, a halt) is remembered once it
is older than the settle time, under the key `ticks <source>` in place of a bar interval, so re-runs do
not ask again. Only whole minutes up to now (or `--until`) are fetched, as only closed bars are. Cron
mode (no `--since`) resumes at the second of the newest stored tick, inclusive: that second may have
been stored only in part, and re-fetching it costs nothing since ticks collide on their key.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from sqlalchemy import Engine

from mdtool.backfill import SETTLE, BackfillRequest, BackfillSummary, PipelinedStore
from mdtool.errors import UsageError
from mdtool.intervals import ceil_open, count_bars, floor_open
from mdtool.progress import BackfillProgress, NoProgress
from mdtool.ranges import Range, holes, subtract
from mdtool.sources import TickSource
from mdtool.storage.empty_ranges import known_empty_ranges, record_empty_ranges
from mdtool.storage.engine import check_connection
from mdtool.storage.locks import series_lock
from mdtool.storage.queries import missing_tick_ranges, newest_tick_time
from mdtool.storage.writer import RecordWriter

log = logging.getLogger(__name__)

GRID = "1m"
TICKS = "ticks"


def run_tick_backfill(
    engine: Engine,
    source: TickSource,
    request: BackfillRequest,
    progress: BackfillProgress | None = None,
    now: datetime | None = None,
) -> BackfillSummary:
    """Fetch and store the missing ticks of one feed of one symbol; idempotent and safe to re-run."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    progress = progress or NoProgress()
    if request.since and request.until and request.until <= request.since:
        raise UsageError("--until must be later than --since")
    check_connection(engine)
    symbol = source.resolve_symbol(request.symbol)
    memory = f"{TICKS} {source.source}"
    summary = BackfillSummary(source.exchange, symbol, f"{TICKS} ({source.source})", unit=TICKS)
    with series_lock(engine, f"backfill {source.exchange} {symbol} {memory}", wait=request.lock_wait):
        newest = newest_tick_time(engine, source.exchange, symbol, source.source)
        start, end = _span(request, newest, now, source.exchange, symbol)
        summary.start, summary.end = start, end
        if request.refetch or (request.since is None and newest is not None):
            missing = [(start, end)] if start < end else []
        else:
            missing = missing_tick_ranges(engine, source.exchange, symbol, source.source, GRID, start, end)
        ranges = missing if request.refetch else subtract(
            missing, known_empty_ranges(engine, source.exchange, symbol, memory, start, end)
        )  # fmt: skip
        progress.start(f"{source.exchange} {symbol} {TICKS} (minutes)", _minutes(ranges))
        try:
            empty = _fetch_and_store(engine, source, symbol, ranges, newest, summary, progress)
        finally:
            progress.finish()
        settled = now - SETTLE  # an absence older than this is taken as final
        record_empty_ranges(engine, source.exchange, symbol, memory, [r for r in empty if r[1] <= settled])
    summary.requests = source.request_count
    summary.elapsed = time.monotonic() - started
    return summary


def _span(
    request: BackfillRequest, newest: datetime | None, now: datetime, exchange: str, symbol: str
) -> tuple[datetime, datetime]:
    if request.since is not None:
        start = floor_open(GRID, request.since)
    elif newest is not None:
        start = newest.replace(microsecond=0)
    else:
        raise UsageError(
            f"nothing stored yet for {exchange} {symbol} ticks: pass --since to start a backfill"
        )
    end = floor_open(GRID, min(now, request.until) if request.until else now)
    return start, end


def _minutes(ranges: list[Range]) -> int:
    return sum(count_bars(GRID, floor_open(GRID, a), ceil_open(GRID, b)) for a, b in ranges)


def _fetch_and_store(
    engine: Engine,
    source: TickSource,
    symbol: str,
    ranges: list[Range],
    newest: datetime | None,
    summary: BackfillSummary,
    progress: BackfillProgress,
) -> list[Range]:
    """Fetch and store every range; returns its whole minutes the venue answered with no tick."""
    store = PipelinedStore(engine, RecordWriter.write_ticks)
    empty: list[Range] = []
    try:
        for range_start, range_end in ranges:
            minutes: list[datetime] = []
            cursor = floor_open(GRID, range_start)
            for page in source.fetch_ticks(symbol, range_start, range_end):
                ticks = [t for t in page if range_start <= t.timestamp < range_end]
                summary.bars_received += len(ticks)
                store.put(ticks)
                summary.bars_stored = store.stored
                if ticks:
                    minutes.extend(dict.fromkeys(floor_open(GRID, t.timestamp) for t in ticks))
                    reached = floor_open(GRID, ticks[-1].timestamp)
                    progress.advance(count_bars(GRID, cursor, reached), source.request_count)
                    cursor = reached
            progress.advance(count_bars(GRID, cursor, ceil_open(GRID, range_end)), source.request_count)
            if minutes and newest is not None and range_end <= newest:
                summary.gaps_filled += 1
            empty.extend(holes(GRID, ceil_open(GRID, range_start), range_end, minutes))
    finally:
        store.close()
        summary.bars_stored = store.stored
    return empty
