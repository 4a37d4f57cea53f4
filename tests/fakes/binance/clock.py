"""The fake exchange's clock and Binance's kline grid (bars open on fixed boundaries; weeks on Monday)."""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime

FIXED_MS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
}
WEEK_MS = 604_800_000
MONDAY_MS = 4 * 86_400_000  # 1970-01-05, the first Monday: Binance weeks open on Monday 00:00 UTC


def ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime."""
    return calendar.timegm(moment.utctimetuple()) * 1000 + moment.microsecond // 1000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def floor_open_ms(interval: str, t: int) -> int:
    if interval in FIXED_MS:
        return t - t % FIXED_MS[interval]
    if interval == "1w":
        return t - (t - MONDAY_MS) % WEEK_MS
    moment = datetime.fromtimestamp(t / 1000, UTC)
    return ms(datetime(moment.year, moment.month, 1, tzinfo=UTC))


def next_open_ms(interval: str, t: int) -> int:
    if interval in FIXED_MS:
        return t + FIXED_MS[interval]
    if interval == "1w":
        return t + WEEK_MS
    moment = datetime.fromtimestamp(t / 1000, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return ms(datetime(year, month, 1, tzinfo=UTC))


def prev_open_ms(interval: str, t: int) -> int:
    if interval in FIXED_MS:
        return t - FIXED_MS[interval]
    if interval == "1w":
        return t - WEEK_MS
    return floor_open_ms(interval, t - 1)
