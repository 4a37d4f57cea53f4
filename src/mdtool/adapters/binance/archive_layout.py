"""Where the Binance public data archive keeps a span of klines or trades, and which files cover it.

Pure: no I/O. The archive (data.binance.vision) publishes one zip per month and one per day::

    data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip
    data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-02-03.zip
    data/spot/monthly/trades/BTCUSDT/BTCUSDT-trades-2024-01.zip

each beside a `.zip.CHECKSUM`. A daily file appears the day after, a monthly one early in the next
month. A plan takes whole months from monthly files, the other whole days from daily files, and leaves
what is not archived yet (today) to REST. The archive calls the `1M` interval `1mo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

MONTHLY = "monthly"
DAILY = "daily"
TRADES = "trades"
_ARCHIVE_INTERVALS = {"1M": "1mo"}


def archive_interval(interval: str) -> str:
    """The archive's spelling of a Binance interval (`1M` is `1mo` there, the rest are the same)."""
    return _ARCHIVE_INTERVALS.get(interval, interval)


@dataclass(frozen=True, order=True)
class ArchiveFile:
    """One zip of the archive and the half-open UTC span [start, end) its rows cover."""

    start: datetime
    end: datetime
    period: str
    """`MONTHLY` or `DAILY`."""
    path: str
    """Below the base URL: `data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-05.zip`."""

    @property
    def name(self) -> str:
        """The zip's file name, as the CHECKSUM file spells it."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def label(self) -> str:
        """`2024-01` or `2024-01-05`: the period's date as it appears in the file name."""
        return _label(self.period, self.start.date())


@dataclass(frozen=True)
class Plan:
    """Archive files in time order, and the span from `rest_from` on that only REST can serve yet."""

    files: list[ArchiveFile]
    rest_from: datetime


def file_for(dataset: str, symbol: str, period: str, day: date) -> ArchiveFile:
    """The monthly (day's month) or daily file of `dataset` (`trades` or a kline interval)."""
    start = datetime(day.year, day.month, 1 if period == MONTHLY else day.day, tzinfo=UTC)
    end = _month_after(start) if period == MONTHLY else start + timedelta(days=1)
    label = _label(period, start.date())
    if dataset == TRADES:
        path = f"data/spot/{period}/trades/{symbol}/{symbol}-trades-{label}.zip"
    else:
        name = archive_interval(dataset)
        path = f"data/spot/{period}/klines/{symbol}/{name}/{symbol}-{name}-{label}.zip"
    return ArchiveFile(start, end, period, path)


def plan(dataset: str, symbol: str, start: datetime, end: datetime, now: datetime) -> Plan:
    """Files covering as much of [start, end) as the archive can have by `now`.

    Whole months that ended before today's UTC date come from monthly files, other whole or partial
    days before today from daily files; from the start of today (or `end`, if earlier) it is REST's.
    A file is only planned when it may already be published: a day's file once the day is over, a
    month's once the month is over (it may still be missing; the caller then falls back to days).
    """
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    archived_until = min(end, today)
    files: list[ArchiveFile] = []
    cursor = _day_floor(start)
    while cursor < archived_until:
        month_end = _month_after(cursor)
        if cursor.day == 1 and start <= cursor and month_end <= archived_until:
            files.append(file_for(dataset, symbol, MONTHLY, cursor.date()))
            cursor = month_end
        else:
            files.append(file_for(dataset, symbol, DAILY, cursor.date()))
            cursor += timedelta(days=1)
    return Plan(files, max(start, archived_until))


def days_of(month: ArchiveFile, dataset: str, symbol: str) -> list[ArchiveFile]:
    """The daily files that together hold what a (missing) monthly file would."""
    days: list[ArchiveFile] = []
    cursor = month.start
    while cursor < month.end:
        days.append(file_for(dataset, symbol, DAILY, cursor.date()))
        cursor += timedelta(days=1)
    return days


def _day_floor(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _month_after(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def _label(period: str, day: date) -> str:
    return f"{day:%Y-%m}" if period == MONTHLY else f"{day:%Y-%m-%d}"
