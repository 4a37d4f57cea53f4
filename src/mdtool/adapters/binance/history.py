"""Historical bars from `GET /api/v3/klines`: the Binance `BarSource`.

A range is covered in pages of 1000 bars. The first page is fetched alone, because its first bar tells
where the data really starts (Binance silently begins at the listing date when asked for earlier
times); the remaining pages are then known in advance, so the next request is always on the wire while
the previous page is parsed. Only closed bars are yielded: the bar that is still open (Binance includes
it) and anything at or after `end` are dropped. "Still open" is judged by Binance's clock (learned from
`exchangeInfo.serverTime`), so a local clock running a little fast never stores an unfinished bar.

`pages_in_flight` allows several concurrent requests within the weight budget, but defaults to one:
the fetch is not what bounds a backfill (a plain fetch from the local fake runs at about 95k bars/s;
turning bars into objects and storing them is slower), a second request in flight measured no faster,
and with several requests outstanding, those already sent when a 429 arrives reach Binance during its
`Retry-After`, which is exactly what earns a 418 ban.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from mdtool.adapters.binance.parse import EXCHANGE, from_ms, kline_open_ms, parse_klines, to_ms
from mdtool.adapters.binance.rest import BinanceRest
from mdtool.intervals import ceil_open, floor_open, next_open, nominal_length, validate_interval
from mdtool.records import Bar

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
_CALENDAR = {"1M"}  # intervals whose length varies: pages are planned by stepping the calendar


class BinanceBarSource:
    """Closed klines of one Binance spot symbol, paged, paced and retried."""

    exchange = EXCHANGE

    def __init__(self, rest: BinanceRest, pages_in_flight: int = 1) -> None:
        self.rest = rest
        self.pages_in_flight = max(1, pages_in_flight)
        self._known: set[str] = set()

    @property
    def request_count(self) -> int:
        return self.rest.request_count

    @request_count.setter  # `BarSource` declares a plain (settable) attribute
    def request_count(self, value: int) -> None:
        self.rest.request_count = value

    def resolve_symbol(self, symbol: str) -> str:
        """Binance's spelling of `symbol` from `exchangeInfo` (which also teaches us the rate limits)."""
        name = self.rest.resolve_symbol(symbol)
        self._known.add(name)
        return name

    def close(self) -> None:
        """Close the HTTP sessions (idempotent)."""
        self.rest.close()

    def check_interval(self, interval: str) -> None:
        """Binance serves every interval mdtool spells (they are Binance's own spellings)."""
        validate_interval(interval)

    def fetch_bars(
        self, symbol: str, interval: str, start: datetime, end: datetime
    ) -> Iterator[Sequence[Bar]]:
        """Closed bars opening in [start, end), in ascending pages."""
        validate_interval(interval)
        start = ceil_open(interval, start)
        if symbol not in self._known:
            symbol = self.resolve_symbol(symbol)
        end = min(end, floor_open(interval, self.rest.server_now()))  # the open bar is not closed yet
        if start >= end:
            return
        rows = self.rest.klines(symbol, interval, to_ms(start), to_ms(end) - 1, PAGE_SIZE)
        first = _clip(rows, symbol, interval, start, end)
        if first:
            yield first
        if len(rows) < PAGE_SIZE:
            return  # Binance had no more in [start, end)
        resume = next_open(interval, from_ms(kline_open_ms(rows[-1])))
        yield from self._pages_in_parallel(symbol, interval, _plan(interval, resume, end))

    def _pages_in_parallel(
        self, symbol: str, interval: str, plan: Iterator[tuple[datetime, datetime]]
    ) -> Iterator[list[Bar]]:
        """Fetch planned pages, `pages_in_flight` requests at a time, parsing while the next is out.

        The next request is sent before the current page is parsed, so even with one request in
        flight the network (and Binance's work) overlaps with our parsing.
        """
        with ThreadPoolExecutor(self.pages_in_flight, thread_name_prefix="binance-klines") as pool:
            pending: deque[tuple[Future[list[Any]], datetime, datetime]] = deque()

            def refill() -> None:
                while len(pending) < self.pages_in_flight:
                    page = next(plan, None)
                    if page is None:
                        return
                    start_ms, end_ms = to_ms(page[0]), to_ms(page[1]) - 1
                    future = pool.submit(self.rest.klines, symbol, interval, start_ms, end_ms, PAGE_SIZE)
                    pending.append((future, *page))

            try:
                refill()
                while pending:
                    future, page_start, page_end = pending.popleft()
                    rows = future.result()
                    refill()
                    bars = _clip(rows, symbol, interval, page_start, page_end)
                    if bars:
                        yield bars
            finally:
                for future, _, _ in pending:
                    future.cancel()


def _clip(rows: list[Any], symbol: str, interval: str, start: datetime, end: datetime) -> list[Bar]:
    """Parsed bars of `rows` that open in [start, end) (Binance may include the still-open bar)."""
    return parse_klines(rows, symbol, interval, to_ms(start), to_ms(end))


def _plan(interval: str, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[page_start, page_end) spans of at most PAGE_SIZE bar opens covering [start, end)."""
    while start < end:
        if interval in _CALENDAR:
            stop = start
            for _ in range(PAGE_SIZE):
                stop = next_open(interval, stop)
                if stop >= end:
                    break
        else:
            stop = start + nominal_length(interval) * PAGE_SIZE
        stop = min(stop, end)
        yield start, stop
        start = stop
