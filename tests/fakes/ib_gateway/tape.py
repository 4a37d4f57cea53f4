"""The tick tape: tick-by-tick subscriptions and the live tickByTick frames (message 99)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.fakes.ib_gateway.contracts import FakeContract
from tests.fakes.ib_gateway.wire import encode

TRADE_TICK_TYPES = ("Last", "AllLast")


@dataclass
class TickSubscription:
    req_id: int
    contract: FakeContract
    tick_type: str
    session: int


def trade_frame(sub: TickSubscription, epoch: int, price: str, size: str, mask: int, exchange: str,
                conditions: str) -> bytes:  # fmt: skip
    """tickByTick Last (1) or AllLast (2): time, price, size, mask, exchange, special conditions."""
    kind = 1 if sub.tick_type == "Last" else 2
    return encode(99, sub.req_id, kind, epoch, price, size, mask, exchange, conditions)


def quote_frame(sub: TickSubscription, epoch: int, bid: str, ask: str, bid_size: str, ask_size: str,
                mask: int) -> bytes:  # fmt: skip
    """tickByTick BidAsk (3); mask bit 1 = bidPastLow, bit 2 = askPastHigh."""
    return encode(99, sub.req_id, 3, epoch, bid, ask, bid_size, ask_size, mask)
