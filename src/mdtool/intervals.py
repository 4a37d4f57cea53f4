"""Bar intervals in Binance spelling, and the calendar arithmetic each one needs.

Fixed-length intervals align to the Unix epoch (as Binance aligns `1m`..`3d`), weeks start on Monday
00:00 UTC and months on the 1st: these are the open times a venue reports, so gaps and "closed bar"
checks are computed on exactly the same grid.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mdtool.errors import UsageError

_FIXED: dict[str, timedelta] = {
    "1s": timedelta(seconds=1),
    "1m": timedelta(minutes=1),
    "3m": timedelta(minutes=3),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "2h": timedelta(hours=2),
    "4h": timedelta(hours=4),
    "6h": timedelta(hours=6),
    "8h": timedelta(hours=8),
    "12h": timedelta(hours=12),
    "1d": timedelta(days=1),
    "3d": timedelta(days=3),
}
WEEK = "1w"
MONTH = "1M"
INTERVALS: tuple[str, ...] = (*_FIXED, WEEK, MONTH)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)


def validate_interval(interval: str) -> str:
    """Return `interval` unchanged when it is one docs/architecture.md lists, else raise a usage error."""
    if interval not in INTERVALS:
        raise UsageError(f"unknown interval {interval!r}; use one of {' '.join(INTERVALS)}")
    return interval


def nominal_length(interval: str) -> timedelta:
    """Length used for sizing requests; a month counts as 31 days (its longest)."""
    if interval in _FIXED:
        return _FIXED[interval]
    if interval == WEEK:
        return timedelta(weeks=1)
    validate_interval(interval)
    return timedelta(days=31)


def floor_open(interval: str, moment: datetime) -> datetime:
    """Open time of the bar that contains `moment`."""
    moment = moment.astimezone(UTC)
    if interval in _FIXED:
        step = _FIXED[interval]
        return _EPOCH + ((moment - _EPOCH) // step) * step
    if interval == WEEK:
        step = timedelta(weeks=1)
        return _FIRST_MONDAY + ((moment - _FIRST_MONDAY) // step) * step
    validate_interval(interval)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def ceil_open(interval: str, moment: datetime) -> datetime:
    """First bar open time at or after `moment`."""
    floor = floor_open(interval, moment)
    return floor if floor == moment else next_open(interval, floor)


def next_open(interval: str, bar_open: datetime) -> datetime:
    """Open time of the bar after the one opening at `bar_open` (which must be on the grid)."""
    if interval in _FIXED:
        return bar_open + _FIXED[interval]
    if interval == WEEK:
        return bar_open + timedelta(weeks=1)
    validate_interval(interval)
    year, month = (bar_open.year + 1, 1) if bar_open.month == 12 else (bar_open.year, bar_open.month + 1)
    return bar_open.replace(year=year, month=month)


def count_bars(interval: str, start: datetime, end: datetime) -> int:
    """Number of bar opens in [start, end), both on the grid; used for progress totals."""
    if end <= start:
        return 0
    if interval in _FIXED or interval == WEEK:
        return (end - start) // nominal_length(interval)
    return (end.year - start.year) * 12 + end.month - start.month
