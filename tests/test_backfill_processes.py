"""How a backfill's missing span is shared among worker processes (`split_ranges`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from mdtool.backfill_processes import MIN_BARS_PER_WORKER, split_ranges
from mdtool.intervals import count_bars, floor_open
from mdtool.ranges import Range

START = datetime(2025, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def bars(interval: str, share: list[Range]) -> int:
    return sum(count_bars(interval, start, end) for start, end in share)


def test_shares_are_contiguous_cut_on_opens_and_about_equal() -> None:
    ranges = [(START, START + 30_000 * MINUTE), (START + 40_000 * MINUTE, START + 70_001 * MINUTE)]
    shares = split_ranges("1m", ranges, 3)
    assert len(shares) == 3
    flat = [span for share in shares for span in share]
    assert flat[0][0] == ranges[0][0] and flat[-1][1] == ranges[-1][1]
    assert all(a[1] <= b[0] for a, b in pairwise(flat)), "in order, no overlap"
    assert all(start < end for start, end in flat)
    assert all(floor_open("1m", moment) == moment for span in flat for moment in span)
    counts = [bars("1m", share) for share in shares]
    assert sum(counts) == 60_001
    assert max(counts) - min(counts) <= 1


def test_a_span_too_short_for_every_worker_gets_fewer_shares() -> None:
    span = [(START, START + (2 * MIN_BARS_PER_WORKER + 5) * MINUTE)]
    assert len(split_ranges("1m", span, 8)) == 2
    short = [(START, START + (MIN_BARS_PER_WORKER - 1) * MINUTE)]
    assert split_ranges("1m", short, 4) == [short]
    assert split_ranges("1m", [], 4) == [[]]


def test_weekly_cuts_fall_on_week_opens_and_months_are_never_cut() -> None:
    monday = datetime(1800, 1, 6, tzinfo=UTC)
    weeks = [(monday, monday + timedelta(weeks=3 * MIN_BARS_PER_WORKER))]
    shares = split_ranges("1w", weeks, 3)
    assert [bars("1w", share) for share in shares] == [MIN_BARS_PER_WORKER] * 3
    assert all(floor_open("1w", span[0]) == span[0] for share in shares for span in share)
    months = [(datetime(1, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC))]
    assert split_ranges("1M", months, 4) == [months]
