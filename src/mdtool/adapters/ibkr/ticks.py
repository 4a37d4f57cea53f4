"""Pure tick logic: IB tick-by-tick events to `Tick` records with deterministic trade ids.

IB stamps tick-by-tick events with whole Unix seconds and gives no trade id, while many trades share a
second. The id is therefore a hash of the raw event plus its ordinal among *identical* events within the
same second: two real trades with the same price and size in one second stay two rows, and the id does
not depend on how other events of that second interleave.

A BidAsk event becomes one tick with the bid as `price` and the bid size as `size`; the full quote (bid,
ask and both sizes, as IB's text) is in `payload`, so nothing is lost and a mid can be computed later.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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

    def raw(self) -> str:
        flags = int(self.past_limit) | int(self.unreported) << 1
        return f"{self.epoch}|{self.price!r}|{self.size!r}|{self.exchange}|{self.conditions}|{flags}"


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

    def raw(self) -> str:
        flags = int(self.bid_past_low) | int(self.ask_past_high) << 1
        return f"{self.epoch}|{self.bid!r}|{self.ask!r}|{self.bid_size!r}|{self.ask_size!r}|{flags}"


class TickIds:
    """Deterministic trade ids; one instance per stream, kept across reconnects."""

    def __init__(self) -> None:
        self._second: dict[tuple[str, str], int] = {}
        self._seen: Counter[tuple[str, str, str]] = Counter()

    def next(self, symbol: str, source: str, epoch: int, raw: str) -> str:
        key = (symbol, source)
        if self._second.get(key) != epoch:
            self._second[key] = epoch
            for stale in [k for k in self._seen if k[:2] == key]:
                del self._seen[stale]
        digest = hashlib.sha256(f"{symbol}|{source}|{raw}".encode()).hexdigest()[:20]
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
        trade_id=ids.next(symbol, ALL_LAST, event.epoch, event.raw()),
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
        trade_id=ids.next(symbol, BID_ASK, event.epoch, event.raw()),
        price=decimal(event.bid),
        size=decimal(event.bid_size),
        payload=payload,
    )


def _text(value: float) -> str:
    """Exact decimal text for the JSON payload (`300`, not `300.0`)."""
    return str(normalize_decimal(decimal(value)))
