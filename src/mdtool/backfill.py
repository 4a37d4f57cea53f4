"""The venue-independent backfill driver: resume, gap repair, locking, pipelined writes, summary.

Given a `BarSource`, it works out which closed bars of the requested span are missing, asks the source
for exactly those ranges, and stores each page as it arrives. A writer thread stores page N while the
source fetches page N+1, so the database and the network overlap; a crash loses at most the pages in
flight, and the next run's gap query picks up from what was stored. With `BackfillWorkers` the
missing span is shared by several processes (`mdtool.backfill_processes`), each running the same
`fetch_and_store` over its part.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from operator import attrgetter
from typing import Generic, TypeVar

from sqlalchemy import Engine

from mdtool.backfill_processes import BackfillWorkers, PartResult, run_parts, split_ranges
from mdtool.errors import MdtoolError, UsageError
from mdtool.gc_tuning import fewer_collections
from mdtool.intervals import (
    MONTH,
    ceil_open,
    count_bars,
    floor_open,
    next_open,
    nominal_length,
    validate_interval,
)
from mdtool.progress import BackfillProgress, NoProgress
from mdtool.ranges import Range, evenly_spaced, subtract
from mdtool.records import Bar
from mdtool.sources import BarFile, BarSource
from mdtool.storage.bulk_copy import copy_kline_csv
from mdtool.storage.empty_ranges import known_empty_ranges, record_empty_ranges
from mdtool.storage.engine import check_connection, is_postgres
from mdtool.storage.locks import series_lock
from mdtool.storage.queries import missing_ranges, newest_bar_time
from mdtool.storage.writer import RecordWriter

log = logging.getLogger(__name__)
R = TypeVar("R")

_PAGES_IN_FLIGHT = 16
SETTLE = timedelta(hours=6)
"""An absence younger than this (or than two bars) is not remembered: a venue may still publish late
bars, and its clock may differ from ours."""
_WRITE_BATCH = 10_000
_BATCH_WAIT = 0.5
"""Seconds the writer waits for more pages to fill a batch."""
_timestamp = attrgetter("timestamp")


@dataclass(frozen=True)
class BackfillRequest:
    """What the user asked for; `since=None` means cron mode (resume after the newest stored bar)."""

    symbol: str
    interval: str
    since: datetime | None = None
    until: datetime | None = None
    refetch: bool = False
    lock_wait: float = 0.0


@dataclass
class BackfillSummary:
    """What one run did, for the summary line."""

    exchange: str
    symbol: str
    interval: str
    start: datetime | None = None
    end: datetime | None = None
    bars_received: int = 0
    bars_stored: int = 0
    gaps_filled: int = 0
    requests: int = 0
    elapsed: float = 0.0
    unit: str = "bars"
    """What was counted: `bars`, or `ticks` for a tick series (`mdtool.tick_backfill`)."""

    def line(self) -> str:
        span = f"{_fmt(self.start)} → {_fmt(self.end)}" if self.start and self.end else "nothing to do"
        return (
            f"{self.exchange} {self.symbol} {self.interval} ({span}): {self.bars_stored} {self.unit} stored "
            f"({self.bars_received} received), {self.gaps_filled} gaps filled, {self.requests} requests, "
            f"{self.elapsed:.1f} s"
        )


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def plan_span(
    request: BackfillRequest, newest: datetime | None, now: datetime, exchange: str
) -> tuple[datetime, datetime]:
    """[start, end) of bar open times to cover: only closed bars, resuming after `newest` in cron mode."""
    interval = request.interval
    if request.since is not None:
        start = ceil_open(interval, request.since)
    elif newest is not None:
        start = next_open(interval, newest)
    else:
        raise UsageError(
            f"nothing stored yet for {exchange} {request.symbol} {interval}: pass --since to start a backfill"
        )
    end = floor_open(interval, now)
    if request.until is not None:
        # Bars that have closed by --until, the same rule as "closed by now".
        end = min(end, floor_open(interval, request.until))
    return start, end


def run_backfill(
    engine: Engine,
    source: BarSource,
    request: BackfillRequest,
    progress: BackfillProgress | None = None,
    now: datetime | None = None,
    workers: BackfillWorkers | None = None,
) -> BackfillSummary:
    """Fetch and store the missing closed bars of one series; idempotent and safe to re-run.

    `workers` shares a long span among processes; this one keeps the lock, the progress display and
    the summary either way.
    """
    started = time.monotonic()
    progress = progress or NoProgress()
    interval = validate_interval(request.interval)
    if request.since and request.until and request.until <= request.since:
        raise UsageError("--until must be later than --since")
    check_connection(engine)
    source.check_interval(interval)
    symbol = source.resolve_symbol(request.symbol)
    summary = BackfillSummary(source.exchange, symbol, interval)
    key = f"backfill {source.exchange} {symbol} {interval}"
    with series_lock(engine, key, wait=request.lock_wait):
        newest = newest_bar_time(engine, source.exchange, symbol, interval)
        start, end = plan_span(request, newest, now or datetime.now(UTC), source.exchange)
        summary.start, summary.end = start, end
        ranges = (
            [(start, end)]
            if request.refetch
            else subtract(
                missing_ranges(engine, source.exchange, symbol, interval, start, end),
                known_empty_ranges(engine, source.exchange, symbol, interval, start, end),
            )
        )
        total = sum(count_bars(interval, a, b) for a, b in ranges)
        if not ranges:
            log.info("%s: nothing missing between %s and %s", key, start, end)
        progress.start(f"{source.exchange} {symbol} {interval}", total)
        job = partial(fetch_and_store, symbol=symbol, interval=interval)
        shares = split_ranges(interval, ranges, workers.count) if workers is not None else [ranges]
        shared_by = workers if len(shares) > 1 else None
        try:
            with fewer_collections():
                if shared_by is not None:
                    log.info("%s: %d bars missing, shared by %d processes", key, total, len(shares))
                    parts = run_parts(shared_by, engine, shares, job, progress)
                else:
                    parts = [job(engine, source, ranges, progress)]
        finally:
            progress.finish()
        empty = [span for part in parts for span in part.empty]
        summary.bars_received = sum(part.received for part in parts)
        summary.bars_stored = sum(part.stored for part in parts)
        summary.gaps_filled = _gaps_filled(ranges, empty, newest)
        settled = end - max(2 * nominal_length(interval), SETTLE)
        record_empty_ranges(engine, source.exchange, symbol, interval, [r for r in empty if r[1] <= settled])
    summary.requests = source.request_count + (sum(part.requests for part in parts) if shared_by else 0)
    summary.elapsed = time.monotonic() - started
    return summary


def fetch_and_store(
    engine: Engine,
    source: BarSource,
    ranges: list[Range],
    progress: BackfillProgress,
    *,
    symbol: str,
    interval: str,
) -> PartResult:
    """Fetch and store every range, with the spans the venue answered with no bars (the work of one
    process: all of a run, or one worker's share)."""
    store = PipelinedStore(engine, RecordWriter.write_bars)
    empty: list[Range] = []
    received = bulk = 0
    try:
        for range_start, range_end in ranges:
            covered: list[Range] = []
            for page in source.fetch_bars(symbol, interval, range_start, range_end):
                if not isinstance(page, Sequence):
                    stored, found = _store_file(engine, page, source.exchange, symbol, interval, store)
                    covered.extend(_covered(interval, found))
                    received += len(found)
                    bulk += stored
                    progress.advance(len(found), source.request_count)
                    continue
                bars, opens = _inside(page, range_start, range_end)
                covered.extend(_covered(interval, opens))
                received += len(bars)
                store.put(bars)
                progress.advance(len(bars), source.request_count)
            empty.extend(subtract([(range_start, range_end)], covered))
    finally:
        store.close()
    return PartResult(received, store.stored + bulk, source.request_count, empty)


def _gaps_filled(ranges: list[Range], empty: list[Range], newest: datetime | None) -> int:
    """Missing ranges before the newest stored bar (gaps, not the new tail) that got any bar: those
    the venue's empty answers (each inside one range) do not cover whole."""
    if newest is None:
        return 0
    unanswered = sorted(empty)
    starts = [start for start, _ in unanswered]
    filled = 0
    for start, end in ranges:
        if start <= newest:
            inside = unanswered[bisect_left(starts, start) : bisect_left(starts, end)]
            filled += sum((b - a for a, b in inside), timedelta()) < end - start
    return filled


def _store_file(
    engine: Engine, file: BarFile, exchange: str, symbol: str, interval: str, store: PipelinedStore[Bar]
) -> tuple[int, list[datetime]]:
    """A whole file of bars: parsed by PostgreSQL itself (`bulk_copy`), else as records through the
    pipelined store. Returns (bars stored in bulk, open times found), like a page would."""
    if is_postgres(engine):
        with file.csv() as (stream, header):
            opens, stored = copy_kline_csv(
                engine, stream, header=header, exchange=exchange, symbol=symbol, interval=interval,
                since=file.start, until=file.end,
            )  # fmt: skip
        file.imported(len(opens))
        return stored, opens
    opens = []
    for page in file.bars():
        bars, times = _inside(page, file.start, file.end)
        opens.extend(times)
        store.put(bars)
    file.imported(len(opens))
    return 0, opens


def _inside(page: Sequence[Bar], start: datetime, end: datetime) -> tuple[list[Bar], list[datetime]]:
    """The bars of `page` inside [start, end), and their open times: a guard against a source returning
    bars outside the range asked for (never store unclosed bars). A page is normally all inside, which
    `min` and `max` tell without a Python step per bar."""
    opens = list(map(_timestamp, page))
    if opens and start <= min(opens) and max(opens) < end:
        return list(page), opens
    bars = [bar for bar in page if start <= bar.timestamp < end]
    return bars, list(map(_timestamp, bars))


def _covered(interval: str, opens: Sequence[datetime]) -> list[Range]:
    """The spans of time covered by bars opening at `opens`: what is left of a range is what the venue
    did not send (the same as `ranges.holes` finds).

    The usual page, bars one interval apart, covers one span from its first open to its last close;
    that is told in C-level passes, without a Python step per bar (`ranges.evenly_spaced`).
    """
    if not opens:
        return []
    step = nominal_length(interval)
    if interval != MONTH and evenly_spaced(opens, step):
        return [(opens[0], opens[-1] + step)]
    return [(moment, next_open(interval, moment)) for moment in opens]


class PipelinedStore(Generic[R]):
    """Writes pages on a thread while the caller fetches the next ones; re-raises write errors.

    `write` stores a batch through the store's own `RecordWriter` (which remembers collisions) and
    returns how many rows were new: `RecordWriter.write_bars`, or `RecordWriter.write_ticks` for a tick
    series.
    """

    def __init__(self, engine: Engine, write: Callable[[RecordWriter, list[R]], int]) -> None:
        self._writer = RecordWriter(engine)
        self._write = write
        self._queue: queue.Queue[list[R] | None] = queue.Queue(maxsize=_PAGES_IN_FLIGHT)
        self._error: MdtoolError | None = None
        self.stored = 0
        self._thread = threading.Thread(target=self._run, name="mdtool-backfill-writer", daemon=True)
        self._thread.start()

    def put(self, bars: list[R]) -> None:
        if self._error is not None:
            raise self._error
        if bars:
            self._queue.put(bars)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        finished = False
        while not finished:
            bars, finished = self._collect()
            if self._error is not None or not bars:
                continue
            try:
                self.stored += self._write(self._writer, bars)
            except MdtoolError as error:
                self._error = error

    def _collect(self) -> tuple[list[R], bool]:
        """One page, plus the pages that follow within `_BATCH_WAIT`, up to `_WRITE_BATCH` records.

        Each write costs a transaction on both sides, which for a page of 1000 bars is as much as
        formatting its rows: a fast source is written in batches of `_WRITE_BATCH`, while a slow one
        still sees each page stored within a fraction of a second.
        """
        page = self._queue.get()
        if page is None:
            return [], True
        bars = list(page)
        deadline = time.monotonic() + _BATCH_WAIT
        while len(bars) < _WRITE_BATCH:
            try:
                more = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if more is None:
                return bars, True
            bars.extend(more)
        return bars, False
