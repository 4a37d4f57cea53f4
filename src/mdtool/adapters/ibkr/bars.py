"""Pure historical-bar logic: interval to IB bar size, request planning, IB bars to `Bar` records.

IB caps how much history one request may cover for each bar size (its "step size" table), so a span is
cut into requests that each stay inside the cap. Short spans use exact `N S` durations; longer ones use
the calendar unit the table allows for the bar size, which IB may stretch over non-trading days: the
result is filtered to the requested range, so over-fetching is harmless while under-fetching is not.
No I/O here, so all of it is tested without a socket.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from ib_async import BarData

from mdtool.errors import UsageError
from mdtool.intervals import floor_open, next_open, nominal_length
from mdtool.records import Bar

EXCHANGE = "ibkr"


@dataclass(frozen=True)
class BarSize:
    """How to ask IB for one interval.

    `seconds_min`/`seconds_max` bound the `N S` durations the step table allows for the bar size (0 when
    it allows none); longer spans are cut into `unit_span` pieces requested as `unit`.
    """

    setting: str
    seconds_min: int
    seconds_max: int
    unit: str
    unit_span: timedelta


_MINUTES = (1800, 28800, "1 W", timedelta(days=7))
_HOURS = (28800, "1 M", timedelta(days=28))
_YEARLY = (0, 0, "1 Y", timedelta(days=365))
BAR_SIZES: dict[str, BarSize] = {
    "1s": BarSize("1 secs", 60, 1800, "1800 S", timedelta(seconds=1800)),
    "1m": BarSize("1 min", 60, 28800, "1 D", timedelta(days=1)),
    "3m": BarSize("3 mins", *_MINUTES),
    "5m": BarSize("5 mins", *_MINUTES),
    "15m": BarSize("15 mins", *_MINUTES),
    "30m": BarSize("30 mins", 1800, *_HOURS),
    "1h": BarSize("1 hour", 3600, *_HOURS),
    "2h": BarSize("2 hours", 14400, *_HOURS),
    "4h": BarSize("4 hours", 28800, *_HOURS),
    "8h": BarSize("8 hours", 28800, *_HOURS),
    "1d": BarSize("1 day", *_YEARLY),
    "1w": BarSize("1 week", *_YEARLY),
    "1M": BarSize("1 month", *_YEARLY),
}


@dataclass(frozen=True)
class HistoryRequest:
    """One reqHistoricalData call: bars opening in [start, end), asked as `duration` ending at `end`."""

    start: datetime
    end: datetime
    duration: str


def bar_size(interval: str) -> BarSize:
    """IB's bar size for a Binance-spelled interval; IB has no 6h, 12h or 3d bars."""
    try:
        return BAR_SIZES[interval]
    except KeyError:
        supported = " ".join(BAR_SIZES)
        raise UsageError(f"IB has no {interval} bars; use one of {supported}") from None


def plan_requests(interval: str, start: datetime, end: datetime) -> list[HistoryRequest]:
    """Cut [start, end) into ascending requests that each respect IB's duration limit for the bar size."""
    size = bar_size(interval)
    requests: list[HistoryRequest] = []
    piece_start = start
    while piece_start < end:
        whole = end - piece_start
        piece = whole if whole.total_seconds() <= size.seconds_max else size.unit_span
        piece_end = min(piece_start + piece, end)
        requests.append(HistoryRequest(piece_start, piece_end, _duration(size, piece_end - piece_start)))
        piece_start = piece_end
    return requests


def _duration(size: BarSize, span: timedelta) -> str:
    seconds = math.ceil(span.total_seconds())
    if seconds <= size.seconds_max:
        return f"{max(seconds, size.seconds_min)} S"
    if size.setting == "1 day" and span <= timedelta(days=365):
        return f"{math.ceil(seconds / 86400)} D"
    return size.unit


def label_time(label: datetime | date) -> datetime:
    """The instant an IB bar label names: epoch seconds (formatDate=2) or, for daily and longer bars, a
    date, taken as midnight UTC."""
    if isinstance(label, datetime):
        return label.astimezone(UTC) if label.tzinfo else label.replace(tzinfo=UTC)
    return datetime(label.year, label.month, label.day, tzinfo=UTC)


def bar_open(interval: str, label: datetime | date) -> datetime:
    """Open time on mdtool's UTC grid of an IB bar label.

    IB aligns some bars to the session (a 1-hour bar at 09:30 New York), so the label is floored onto
    the grid the gap finder uses.
    """
    return floor_open(interval, label_time(label))


def is_closed(interval: str, label: datetime | date, now: datetime) -> bool:
    """Whether IB's bar can no longer change: both its grid slot and its own span (which for a bar IB
    aligned to the session, e.g. 4 hours from 09:30, ends later than the grid slot) are over."""
    grid_close = next_open(interval, bar_open(interval, label))
    if interval in ("1w", "1M"):
        return grid_close <= now
    return max(grid_close, label_time(label) + nominal_length(interval)) <= now


def decimal(value: float) -> Decimal:
    """IB sends decimal text that ib_async parses to float; `repr` gives back the shortest exact text."""
    return Decimal(repr(value))


def to_bars(
    symbol: str,
    interval: str,
    rows: Iterable[BarData],
    window: tuple[datetime, datetime],
    now: datetime,
) -> list[Bar]:
    """Closed bars opening inside `window`, one per open time, ascending.

    `rows` are ib_async `BarData`. MIDPOINT/BID/ASK bars have volume, WAP and count -1 (no trades): they
    become volume 0 and no trade count.
    """
    low, high = window
    found: dict[datetime, Bar] = {}
    for row in rows:
        opened = bar_open(interval, row.date)
        if not low <= opened < high or not is_closed(interval, row.date, now):
            continue
        volume = decimal(row.volume) if row.volume >= 0 else Decimal(0)
        count = row.barCount
        found[opened] = Bar(
            exchange=EXCHANGE,
            symbol=symbol,
            interval=interval,
            timestamp=opened,
            open=decimal(row.open),
            high=decimal(row.high),
            low=decimal(row.low),
            close=decimal(row.close),
            volume=volume,
            trade_count=count if count >= 0 else None,
        )
    return [found[key] for key in sorted(found)]
