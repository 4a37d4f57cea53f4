"""HISTORICAL_PRICE_DATA_REQUEST answers: stored bars or ticks, read page by page and sent in batches.

Pages are read by key (never OFFSET) in a worker thread, and each page is handed to `emit`, which waits
for room in the client's queue: a request for years of ticks is paced by the client, not held in memory.
The newest record of each page is held back until the next page shows whether it is the final one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from mdtool.dtc import feed
from mdtool.dtc.feed import Series, TickKey
from mdtool.dtc.live import trade_values
from mdtool.dtc.messages import (
    UINT_MAX,
    HistoricalPriceDataRecordResponse,
    HistoricalPriceDataRequest,
    HistoricalPriceDataResponseHeader,
    HistoricalPriceDataTickRecordResponse,
    Message,
)

# RecordInterval (seconds; 0 = ticks) -> stored interval in Binance spelling.
RECORD_INTERVALS: dict[int, str] = {
    1: "1s",
    60: "1m",
    180: "3m",
    300: "5m",
    900: "15m",
    1800: "30m",
    3600: "1h",
    7200: "2h",
    14400: "4h",
    21600: "6h",
    28800: "8h",
    43200: "12h",
    86400: "1d",
    259200: "3d",
    604800: "1w",
}
TICKS = 0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_END = datetime(9999, 1, 1, tzinfo=UTC)
_NO_END_SECONDS = int((_NO_END - _EPOCH).total_seconds())
_MICROSECOND = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)

Emit = Callable[[Sequence[Message]], Awaitable[None]]
Record = HistoricalPriceDataRecordResponse | HistoricalPriceDataTickRecordResponse


def supported(record_interval: int) -> bool:
    return record_interval == TICKS or record_interval in RECORD_INTERVALS


def requested_range(
    request: HistoricalPriceDataRequest, now: datetime, newest: datetime | None = None
) -> tuple[datetime, datetime]:
    """[start, end) from the request: 0 means earliest/latest and EndDateTime's second is included.

    MaxDaysToReturn counts back from EndDateTime or, without one, from the newest stored record
    (`newest`, when known), as the protocol defines it: a series whose feed stopped a week ago still
    returns its last days, not nothing. Any int64/uint32 a client sends gives a range, not an
    OverflowError: a time past year 9999 (INT64_MAX is a common "no limit") means "latest", and a day
    count beyond the epoch means "all".
    """
    end = _moment(request.EndDateTime + 1) if request.EndDateTime > 0 else _NO_END
    start = _moment(request.StartDateTime) if request.StartDateTime > 0 else _EPOCH
    if request.MaxDaysToReturn > 0:
        latest = min(end, now if newest is None or request.EndDateTime > 0 else newest)
        days = min(request.MaxDaysToReturn, (latest - _EPOCH).days)
        start = max(start, latest - timedelta(days=days))
    return start, end


def _moment(seconds: int) -> datetime:
    return _NO_END if seconds >= _NO_END_SECONDS else _EPOCH + timedelta(seconds=seconds)


async def answer(
    engine: Engine, series: Series, request: HistoricalPriceDataRequest, emit: Emit, page_size: int
) -> int:
    """Send the header and every record; returns the number of records sent."""
    newest = None
    if request.MaxDaysToReturn > 0 and request.EndDateTime <= 0:
        interval = RECORD_INTERVALS.get(request.RecordInterval)  # None: ticks
        newest = await asyncio.to_thread(feed.newest_time, engine, series, interval)
    start, end = requested_range(request, datetime.now(UTC), newest)
    header = HistoricalPriceDataResponseHeader(
        RequestID=request.RequestID, RecordInterval=request.RecordInterval
    )
    held: Record | None = None
    sent = 0
    async for page in _pages(engine, series, request, start, end, page_size):
        records: list[Message] = [] if held is None else [held]
        if sent == 0 and held is None:
            records.insert(0, header)
        records.extend(page[:-1])
        held = page[-1]
        sent += len(page)
        await emit(records)
    if held is None:
        await emit([replace(header, NoRecordsToReturn=1)])
        return 0
    await emit([replace(held, IsFinalRecord=1)])
    return sent


async def _pages(
    engine: Engine,
    series: Series,
    request: HistoricalPriceDataRequest,
    start: datetime,
    end: datetime,
    page_size: int,
) -> AsyncIterator[list[Record]]:
    request_id = request.RequestID
    if request.RecordInterval == TICKS:
        after: TickKey | None = None
        while True:
            rows = await asyncio.to_thread(feed.tick_page, engine, series, start, end, after, page_size)
            if not rows:
                return
            yield [_tick_record(request_id, row) for row in rows]
            after = (rows[-1][0], rows[-1][1], rows[-1][2])
    else:
        interval = RECORD_INTERVALS[request.RecordInterval]
        while True:
            rows = await asyncio.to_thread(feed.bar_page, engine, series, interval, start, end, page_size)
            if not rows:
                return
            yield [_bar_record(request_id, row) for row in rows]
            start = rows[-1][0] + _MICROSECOND


def _bar_record(request_id: int, row: tuple[Any, ...]) -> HistoricalPriceDataRecordResponse:
    timestamp, open_, high, low, close, volume, trades = row
    return HistoricalPriceDataRecordResponse(
        RequestID=request_id,
        StartDateTime=(timestamp - _EPOCH) // _SECOND,
        OpenPrice=float(open_),
        HighPrice=float(high),
        LowPrice=float(low),
        LastPrice=float(close),
        Volume=float(volume),
        NumTrades=min(trades or 0, UINT_MAX),
    )


def _tick_record(request_id: int, row: tuple[Any, ...]) -> HistoricalPriceDataTickRecordResponse:
    timestamp, _source, _trade_id, price, size, side = row
    at_bid_or_ask, price_, volume, moment = trade_values(timestamp, price, size, side)
    return HistoricalPriceDataTickRecordResponse(
        RequestID=request_id, DateTime=moment, AtBidOrAsk=at_bid_or_ask, Price=price_, Volume=volume
    )
