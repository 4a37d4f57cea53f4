"""HISTORICAL_PRICE_DATA_REQUEST answers: the range, the source, and the records streamed in chunks.

Any RecordInterval the protocol defines is served: from stored bars of that interval, by aggregating
the finest stored bars that divide it, or from trade ticks when no such bars are stored (grouping is
done by the database, see `storage.history_stream`). Rows are fetched and encoded `chunk` at a time in a
worker thread of the answer's own, one chunk ahead of the socket, so the event loop only queues bytes
and a slow reader paces the database through the session's bounded outbox: memory stays flat on any range.

With `UseZLibCompression` on a binary session the records after the (plain) header are one zlib stream,
flushed at each chunk so the client can decode as bytes arrive, and finished after the final record.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from mdtool.dtc import feed
from mdtool.dtc.messages import (
    BINARY_ENCODING,
    HISTORICAL_DATA_INTERVALS,
    HistoricalPriceDataRequest,
    HistoricalPriceDataResponseHeader,
)
from mdtool.dtc.records import RecordEncoder
from mdtool.storage import history_stream
from mdtool.storage.history_stream import BarSource

# Stored Binance intervals a client may also ask for by their length in seconds.
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
SUPPORTED_INTERVALS = frozenset(HISTORICAL_DATA_INTERVALS) | frozenset(RECORD_INTERVALS)
_FIRST_CHUNK = 256
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_END = datetime(9999, 1, 1, tzinfo=UTC)
_NO_END_SECONDS = int((_NO_END - _EPOCH).total_seconds())


def supported(record_interval: int) -> bool:
    return record_interval in SUPPORTED_INTERVALS


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


@dataclass(frozen=True)
class HistoryOptions:
    chunk: int = 8192  # rows fetched, encoded and written at a time
    zlib_level: int = 1
    quote_sources: tuple[str, ...] = feed.QUOTE_SOURCES


class HistoryAnswer:
    """One request's answer: `prepare()` (plans and reads the first chunk), then `header`, `chunks()`."""

    def __init__(
        self,
        engine: Engine,
        series: feed.Series,
        request: HistoricalPriceDataRequest,
        encoding: int,
        options: HistoryOptions,
    ) -> None:
        self._engine, self._series, self._request = engine, series, request
        self._options = options
        self.compressed = bool(request.UseZLibCompression) and encoding == BINARY_ENCODING
        self._encoder = RecordEncoder(request.RequestID, request.RecordInterval == TICKS, encoding)
        self._compressor = zlib.compressobj(options.zlib_level) if self.compressed else None
        self._threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dtc-history")
        self._stack = ExitStack()
        self._stream: history_stream.RowStream | None = None
        self._next: list[Any] = []
        self.records = 0
        self.raw_bytes = 0
        self.sent_bytes = 0

    @property
    def header(self) -> HistoricalPriceDataResponseHeader:
        return HistoricalPriceDataResponseHeader(
            RequestID=self._request.RequestID,
            RecordInterval=self._request.RecordInterval,
            UseZLibCompression=int(self.compressed and bool(self._next)),
            NoRecordsToReturn=int(not self._next),
        )

    async def prepare(self) -> None:
        await self._in_thread(self._open)

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """Record bytes (compressed when so), fetched and encoded one chunk ahead of the caller."""
        try:
            pending = asyncio.get_running_loop().run_in_executor(self._threads, self._produce)
            while True:
                data = await pending
                if data is None:
                    return
                pending = asyncio.get_running_loop().run_in_executor(self._threads, self._produce)
                yield data
        finally:
            self._threads.submit(self._stack.close)  # after any fetch still running, in its thread
            self._threads.shutdown(wait=False)

    def close(self) -> None:
        """Release the database cursor of an answer that is not streamed (no records, or refused)."""
        self._threads.submit(self._stack.close)
        self._threads.shutdown(wait=False)

    async def _in_thread(self, function: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, function)

    def _open(self) -> None:
        request, engine, series = self._request, self._engine, self._series
        quotes = self._options.quote_sources
        start, end = requested_range(request, datetime.now(UTC))
        if request.RecordInterval == TICKS:
            if request.MaxDaysToReturn > 0 and request.EndDateTime <= 0:
                newest = feed.newest_time(engine, series, None)
                start, end = requested_range(request, datetime.now(UTC), newest)
            opened = history_stream.open_ticks(engine, series, start, end, quotes)
        else:
            # The source is chosen over the whole range: MaxDaysToReturn counts back from its newest row.
            source = self._source(*requested_range(replace(request, MaxDaysToReturn=0), datetime.now(UTC)))
            if source is None:
                return
            if request.MaxDaysToReturn > 0 and request.EndDateTime <= 0:
                newest = feed.newest_time(engine, series, source.interval)
                start, end = requested_range(request, datetime.now(UTC), newest)
            start = history_stream.bucket_start(request.RecordInterval, max(start, _EPOCH))
            opened = history_stream.open_bars(engine, series, source, start, end, quotes)
        self._stream = self._stack.enter_context(opened)
        self._next = self._stream.fetch(min(self._options.chunk, _FIRST_CHUNK))  # first records soon

    def _source(self, start: datetime, end: datetime) -> BarSource | None:
        seconds = self._request.RecordInterval
        return history_stream.bar_source(
            self._engine, self._series, seconds, start, end, self._options.quote_sources
        )

    def _produce(self) -> bytes | None:
        """The next chunk's bytes; the final record is known because the following chunk is read first."""
        rows = self._next
        if not rows or self._stream is None:
            return None
        self._next = self._stream.fetch(self._options.chunk)
        data = self._encoder.encode(rows, final=not self._next)
        self.records += len(rows)
        self.raw_bytes += len(data)
        if self._compressor is not None:
            data = self._compressor.compress(data)
            data += self._compressor.flush(zlib.Z_SYNC_FLUSH if self._next else zlib.Z_FINISH)
        self.sent_bytes += len(data)
        return data
