"""Counters the service keeps itself, read by the metrics collector at scrape time.

Most figures are read from the objects that already count them (`StreamStatus`, `WriterStats`, backfill
summaries). The one thing nobody counts is how late a trade is when it is committed, so the writer's
commit hook feeds this histogram: a bisect per record, no locks on the hot path beyond one per batch.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from mdtool.records import Bar, Tick

LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class LagHistogram:
    """Event time -> commit time of every committed tick (a Prometheus histogram, cumulative at scrape)."""

    def __init__(self, buckets: Sequence[float] = LAG_BUCKETS) -> None:
        self.buckets = tuple(buckets)
        self._counts = [0] * (len(self.buckets) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe_batch(self, records: Sequence[Bar | Tick]) -> None:
        """The writer's `on_commit` hook: one observation per tick, event time to now."""
        now = time.time()
        counts = [0] * len(self._counts)
        total = 0.0
        for record in records:
            if isinstance(record, Tick):
                lag = max(now - record.timestamp.timestamp(), 0.0)
                counts[bisect.bisect_left(self.buckets, lag)] += 1
                total += lag
        with self._lock:
            for index, count in enumerate(counts):
                self._counts[index] += count
            self._sum += total

    def snapshot(self) -> tuple[list[tuple[str, int]], float]:
        """Cumulative `(le, count)` pairs ending with `+Inf`, and the sum of observations."""
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, running = [], 0
        for bound, count in zip([*map(str, self.buckets), "+Inf"], counts, strict=True):
            running += count
            cumulative.append((bound, running))
        return cumulative, total


@dataclass
class StreamTotals:
    """What finished attempts of a stream job counted, so counters stay monotonic across restarts."""

    trades: int = 0
    stored: int = 0
    reconnects: int = 0
    gaps_filled: int = 0
    db_failures: int = 0
    spooled: int = 0
    rejected: int = 0


@dataclass
class SeriesResult:
    """The latest backfill outcome of one series (exchange, symbol, interval)."""

    bars_stored: int = 0
    runs_ok: int = 0
    runs_failed: int = 0
    runs_busy: int = 0
    last_success: float | None = None
    last_error: str = ""


@dataclass
class BackfillTotals:
    """Per-series results of a backfill job, plus the requests its sources made."""

    series: dict[tuple[str, str], SeriesResult] = field(default_factory=dict)
    requests: int = 0
    db_failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def result(self, symbol: str, interval: str) -> SeriesResult:
        with self.lock:
            return self.series.setdefault((symbol, interval), SeriesResult())
