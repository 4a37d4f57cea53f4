"""Live trades for subscribed series: one database poll per series, shared by every subscriber.

Polling is used instead of LISTEN/NOTIFY because it needs no trigger (no schema change), works on
SQLite as on PostgreSQL, and sees rows whoever wrote them. A poll reads the series' ticks whose
`ingested_at` is at or after a watermark. The watermark cannot simply be the newest `ingested_at` seen:
that column is the *start* time of the writing transaction, and a transaction that began earlier may
commit later. So on PostgreSQL the watermark is the start of the oldest transaction still open at the
previous poll (the write horizon, capped at `max_lag` back), and elsewhere the newest row seen minus a
fixed `overlap`. Rows read twice are recognised by primary key and pushed once.

Every newly stored tick is pushed, whatever its event time (a late or replayed trade included), so the
filter is on `ingested_at` alone; an index on `(exchange, symbol, ingested_at)` keeps it cheap on a
large table. Polls run in a worker thread, so the event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Engine

from mdtool.dtc import feed
from mdtool.dtc.feed import Series, StoredTick, TickKey
from mdtool.dtc.messages import AT_ASK, AT_BID, BID_ASK_UNSET, DBL_MAX
from mdtool.errors import MdtoolError

log = logging.getLogger(__name__)
T = TypeVar("T")

# (AtBidOrAsk, Price, Volume, DateTime): a trade ready to be stamped with each client's SymbolID.
Trade = tuple[int, float, float, float]
Sink = Callable[[list[Trade]], None]
# (BidPrice, BidQuantity, AskPrice, AskQuantity, DateTime): a quote for MARKET_DATA_UPDATE_BID_ASK.
Quote = tuple[float, float, float, float, int]
QuoteSink = Callable[[list[Quote]], None]
_AT_BID_OR_ASK = {"buy": AT_ASK, "sell": AT_BID}


def trade_values(
    timestamp: datetime, price: Decimal | float, size: Decimal | float | None, side: str | None
) -> Trade:
    """The aggressor side maps to where the trade printed: a buyer lifts the ask, a seller hits the bid."""
    return (
        _AT_BID_OR_ASK.get(side or "", BID_ASK_UNSET),
        float(price),
        float(size) if size is not None else 0.0,
        timestamp.timestamp(),
    )


def to_trade(tick: StoredTick) -> Trade:
    return trade_values(tick.timestamp, tick.price, tick.size, tick.side)


def to_quote(tick: StoredTick) -> Quote:
    """A stored quote; a missing side stays unset (DBL_MAX), as the protocol marks "no price"."""
    return (
        tick.price,
        tick.size or 0.0,
        DBL_MAX if tick.ask is None else tick.ask,
        tick.ask_size or 0.0,
        int(tick.timestamp.timestamp()),
    )


@dataclass
class _Poller:
    series: Series
    sinks: list[Sink] = field(default_factory=list)
    quote_sinks: dict[Sink, QuoteSink] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    seen: dict[TickKey, datetime] = field(default_factory=dict)
    newest: datetime | None = None
    since: datetime | None = None
    task: asyncio.Task[None] | None = None


class TickHub:
    """Fans new stored ticks out to subscribers; a series is polled only while someone subscribes."""

    def __init__(
        self,
        engine: Engine,
        poll_interval: float = 0.1,
        overlap: timedelta = timedelta(seconds=5),
        max_lag: timedelta = timedelta(seconds=60),
    ) -> None:
        self._engine = engine
        self._interval = poll_interval
        self._overlap = overlap
        self._max_lag = max_lag
        self._pollers: dict[Series, _Poller] = {}
        # Own threads: history pages and lookups in the default pool must not delay a live poll.
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dtc-poll")

    async def subscribe(self, series: Series, sink: Sink, quotes: QuoteSink | None = None) -> None:
        """Start delivering trades (and quotes, to `quotes`) stored from now on.

        Returns once the series' baseline is known.
        """
        poller = self._pollers.get(series)
        if poller is None:
            poller = self._pollers[series] = _Poller(series)
            poller.task = asyncio.create_task(self._run(poller), name=f"dtc-poll-{series[0]}-{series[1]}")
        poller.sinks.append(sink)
        if quotes is not None:
            poller.quote_sinks[sink] = quotes
        await poller.ready.wait()

    def unsubscribe(self, series: Series, sink: Sink) -> None:
        poller = self._pollers.get(series)
        if poller is None or sink not in poller.sinks:
            return
        poller.sinks.remove(sink)
        poller.quote_sinks.pop(sink, None)
        if not poller.sinks:
            del self._pollers[series]
            if poller.task is not None:
                poller.task.cancel()

    def publish(self, series: Series, trades: list[Trade]) -> None:
        """Hand trades to every subscriber of a series (the poll uses it; so can in-process producers)."""
        poller = self._pollers.get(series)
        if poller is None or not trades:
            return
        for sink in list(poller.sinks):
            sink(trades)

    def publish_quotes(self, series: Series, quotes: list[Quote]) -> None:
        poller = self._pollers.get(series)
        if poller is None or not quotes:
            return
        for sink in list(poller.quote_sinks.values()):
            sink(quotes)

    async def close(self) -> None:
        tasks = [p.task for p in self._pollers.values() if p.task is not None]
        self._pollers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, function, *args)

    async def _run(self, poller: _Poller) -> None:
        exchange, symbol = poller.series
        try:
            newest = await self._in_thread(feed.newest_ingested, self._engine, exchange, symbol)
            poller.since = newest - self._overlap if newest is not None else None
            await self._poll(poller, deliver=False)
        except MdtoolError as exc:
            log.warning("DTC live feed %s/%s: %s", exchange, symbol, exc)
        finally:
            poller.ready.set()
        failing = False
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._poll(poller, deliver=True)
            except MdtoolError as exc:
                if not failing:
                    log.warning("DTC live feed %s/%s: %s (retrying)", exchange, symbol, exc)
                failing = True
                await asyncio.sleep(1.0)
                continue
            if failing:
                log.info("DTC live feed %s/%s: polling again", exchange, symbol)
                failing = False

    async def _poll(self, poller: _Poller, deliver: bool) -> None:
        result = await self._in_thread(feed.ticks_ingested_since, self._engine, *poller.series, poller.since)
        fresh = [row for row in result.rows if row.key not in poller.seen]
        for row in fresh:
            poller.seen[row.key] = row.ingested_at
            if poller.newest is None or row.ingested_at > poller.newest:
                poller.newest = row.ingested_at
        poller.since = self._next_since(poller.newest, result.horizon)
        since = poller.since
        if since is not None:
            poller.seen = {key: at for key, at in poller.seen.items() if at >= since}
        if deliver and fresh:
            self._deliver(poller.series, fresh)

    def _deliver(self, series: Series, rows: list[StoredTick]) -> None:
        """Trades and quotes in event order: each run of one kind is one batch."""
        start = 0
        for end in range(1, len(rows) + 1):
            if end == len(rows) or rows[end].is_quote != rows[start].is_quote:
                run = rows[start:end]
                if run[0].is_quote:
                    self.publish_quotes(series, [to_quote(row) for row in run])
                else:
                    self.publish(series, [to_trade(row) for row in run])
                start = end

    def _next_since(self, newest: datetime | None, horizon: datetime | None) -> datetime | None:
        if horizon is None:
            return newest - self._overlap if newest is not None else None
        if newest is None:
            return horizon
        return max(horizon, newest - self._max_lag)
