"""Pure tick logic: IB ticks (live tick-by-tick or historical) to `Tick` records with deterministic ids.

IB gives no trade id, and both of its tick feeds stamp events with whole Unix seconds: the live
tickByTick message and the historical-ticks messages carry the same integer `time` (ib_async's own
`Ticker` would swap in the local arrival time, so the stream takes IB's value from the wire instead).
The identity of an event is therefore what both feeds carry alike: the second, price, size, exchange and
special conditions (bid, ask and both sizes for a quote), hashed, plus the event's ordinal among
*identical* events in that second. Attribute flags (past limit, unreported, ...) are kept in the payload
but are not part of the identity, since ib_async decodes their bits differently in the two feeds.

So the live and the historical copy of one event get the same `timestamp` (the whole second; neither feed
has anything finer) and the same `trade_id`, and an overlap collides on the primary key instead of
doubling. The ordinal makes the union of partial views exact: a feed that saw k of the n identical
events of a second numbers them 0..k-1, the historical feed (which always serves whole seconds) numbers
them 0..n-1, and the stored set is 0..n-1 whichever arrived first. Two real trades with the same price
and size in one second stay two rows, and no id depends on how other events of that second interleave.

A BidAsk event becomes one tick with the bid as `price` and the bid size as `size`; the full quote (bid,
ask and both sizes, as IB's text) is in `payload`, so nothing is lost and a mid can be computed later.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ib_async import HistoricalTickBidAsk, HistoricalTickLast

from mdtool.adapters.ibkr.bars import EXCHANGE, decimal
from mdtool.records import Tick, normalize_decimal

ALL_LAST = "ibkr.AllLast"
BID_ASK = "ibkr.BidAsk"


@dataclass(frozen=True)
class TradeEvent:
    """A tick-by-tick AllLast (or Last) event as it came off the wire."""

    epoch: int
    price: float
    size: float
    exchange: str
    conditions: str
    past_limit: bool
    unreported: bool

    def identity(self) -> str:
        return f"{self.epoch}|{self.price!r}|{self.size!r}|{self.exchange}|{self.conditions}"

    @classmethod
    def from_history(cls, tick: HistoricalTickLast) -> TradeEvent:
        attrib = tick.tickAttribLast
        return cls(
            int(tick.time.timestamp()),
            tick.price,
            tick.size,
            tick.exchange,
            tick.specialConditions,
            attrib.pastLimit,
            attrib.unreported,
        )


@dataclass(frozen=True)
class QuoteEvent:
    """A tick-by-tick BidAsk event as it came off the wire."""

    epoch: int
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    bid_past_low: bool
    ask_past_high: bool

    def identity(self) -> str:
        return f"{self.epoch}|{self.bid!r}|{self.ask!r}|{self.bid_size!r}|{self.ask_size!r}"

    @classmethod
    def from_history(cls, tick: HistoricalTickBidAsk) -> QuoteEvent:
        attrib = tick.tickAttribBidAsk
        return cls(
            int(tick.time.timestamp()),
            tick.priceBid,
            tick.priceAsk,
            tick.sizeBid,
            tick.sizeAsk,
            attrib.bidPastLow,
            attrib.askPastHigh,
        )


TickEvent = TradeEvent | QuoteEvent


class TickIds:
    """Deterministic trade ids: one instance per feed (the live stream, each historical fill), since the
    ordinal counts events in the order that feed delivered them."""

    def __init__(self) -> None:
        self._second: dict[tuple[str, str], int] = {}
        self._seen: Counter[tuple[str, str, str]] = Counter()

    def next(self, symbol: str, source: str, epoch: int, identity: str) -> str:
        key = (symbol, source)
        if self._second.get(key) != epoch:
            self._second[key] = epoch
            for stale in [k for k in self._seen if k[:2] == key]:
                del self._seen[stale]
        digest = hashlib.sha256(f"{symbol}|{source}|{identity}".encode()).hexdigest()[:20]
        ordinal = self._seen[(symbol, source, digest)]
        self._seen[(symbol, source, digest)] += 1
        return f"{digest}-{ordinal}"


def trade_tick(symbol: str, event: TradeEvent, ids: TickIds) -> Tick:
    payload: dict[str, Any] = {"exchange": event.exchange, "conditions": event.conditions}
    if event.past_limit:
        payload["past_limit"] = True
    if event.unreported:
        payload["unreported"] = True
    return Tick(
        exchange=EXCHANGE,
        symbol=symbol,
        timestamp=datetime.fromtimestamp(event.epoch, UTC),
        source=ALL_LAST,
        trade_id=ids.next(symbol, ALL_LAST, event.epoch, event.identity()),
        price=decimal(event.price),
        size=decimal(event.size),
        payload=payload,
    )


def quote_tick(symbol: str, event: QuoteEvent, ids: TickIds) -> Tick:
    payload: dict[str, Any] = {
        "bid": _text(event.bid),
        "ask": _text(event.ask),
        "bid_size": _text(event.bid_size),
        "ask_size": _text(event.ask_size),
    }
    if event.bid_past_low:
        payload["bid_past_low"] = True
    if event.ask_past_high:
        payload["ask_past_high"] = True
    return Tick(
        exchange=EXCHANGE,
        symbol=symbol,
        timestamp=datetime.fromtimestamp(event.epoch, UTC),
        source=BID_ASK,
        trade_id=ids.next(symbol, BID_ASK, event.epoch, event.identity()),
        price=decimal(event.bid),
        size=decimal(event.bid_size),
        payload=payload,
    )


def to_tick(symbol: str, event: TickEvent, ids: TickIds) -> Tick:
    """The record of a trade or a quote event."""
    if isinstance(event, TradeEvent):
        return trade_tick(symbol, event, ids)
    return quote_tick(symbol, event, ids)


def _text(value: float) -> str:
    """Exact decimal text for the JSON payload (`300`, not `300.0`)."""
    return str(normalize_decimal(decimal(value)))
