"""The tick tape: every trade and quote the gateway produced, served live and as historical ticks.

Live: tick-by-tick subscriptions (reqTickByTickData, message 97) get tickByTick frames (99) as
`push_trade` / `push_bid_ask` produce them; an account may hold only `limit` subscriptions at once, the
next one is refused with error 10190. History: everything produced is kept on the tape whether or not
anyone was subscribed (the gateway was down, the client was reconnecting), and reqHistoricalTicks
(message 96) serves it as IB does: whole-second times, at most 1,000 ticks per request plus the rest of
the last second reached, TRADES as historicalTicksLast (98), BID_ASK as historicalTicksBidAsk (97),
MIDPOINT as historicalTicks (96), each answer ending with the `done` flag.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from tests.fakes.ib_gateway.bars import parse_end
from tests.fakes.ib_gateway.contracts import FakeContract
from tests.fakes.ib_gateway.pacing import HistoricalRequest
from tests.fakes.ib_gateway.wire import encode, error

TRADE_TICK_TYPES = ("Last", "AllLast")
MAX_TICKS = 1000
TICKS_PER_FRAME = 400  # IB may split an answer; the client must collect until `done`
TOO_MANY_TEXT = "Max number of tick-by-tick requests has been reached."
BAD_TICKS_TEXT = "Historical Market Data Service error message:{reason}"
T = TypeVar("T", "TapeTrade", "TapeQuote")


@dataclass
class TickSubscription:
    req_id: int
    contract: FakeContract
    tick_type: str
    session: int


@dataclass(frozen=True)
class TapeTrade:
    epoch: int
    price: str
    size: str
    mask: int  # bit 1 pastLimit, bit 2 unreported (the same in live and historical frames)
    exchange: str
    conditions: str


@dataclass(frozen=True)
class TapeQuote:
    epoch: int
    bid: str
    ask: str
    bid_size: str
    ask_size: str
    bid_past_low: bool
    ask_past_high: bool


@dataclass
class Tape:
    """Per symbol, in the order produced (ascending time)."""

    trades: dict[str, list[TapeTrade]] = field(default_factory=lambda: defaultdict(list))
    quotes: dict[str, list[TapeQuote]] = field(default_factory=lambda: defaultdict(list))


def trade_frame(sub: TickSubscription, t: TapeTrade) -> bytes:
    """tickByTick Last (1) or AllLast (2): time, price, size, mask, exchange, special conditions."""
    kind = 1 if sub.tick_type == "Last" else 2
    return encode(99, sub.req_id, kind, t.epoch, t.price, t.size, t.mask, t.exchange, t.conditions)


def quote_frame(sub: TickSubscription, q: TapeQuote) -> bytes:
    """tickByTick BidAsk (3); in this message mask bit 1 = bidPastLow, bit 2 = askPastHigh."""
    mask = int(q.bid_past_low) | int(q.ask_past_high) << 1
    return encode(99, sub.req_id, 3, q.epoch, q.bid, q.ask, q.bid_size, q.ask_size, mask)


def parse_ticks_request(
    fields: list[str], con_id: int, received_at: float, session: int
) -> HistoricalRequest:
    """reqHistoricalTicks: [96, reqId, contract12, includeExpired, start, end, numberOfTicks, whatToShow,
    useRth, ignoreSize, miscOptions]; kept in the pacing record as start|end and the tick count."""
    return HistoricalRequest(
        req_id=int(fields[1]), con_id=con_id, symbol=fields[3], exchange=fields[9],
        end=f"{fields[15]}|{fields[16]}", bar_size="ticks", duration=fields[17], use_rth=fields[19] == "1",
        what_to_show=fields[18].upper(), format_date=0, keep_up_to_date=False, received_at=received_at,
        session=session,
    )  # fmt: skip


def check_ticks_request(request: HistoricalRequest) -> str | None:
    """What IB would refuse in a historical-ticks request, or None."""
    start, _, end = request.end.partition("|")
    if bool(start) == bool(end):
        return "exactly one of start and end time must be given"
    if not request.duration.isdigit() or not 0 < int(request.duration) <= MAX_TICKS:
        return f"number of ticks must be 1..{MAX_TICKS}, not {request.duration}"
    if request.what_to_show not in ("TRADES", "BID_ASK", "MIDPOINT"):
        return f"whatToShow must be TRADES, BID_ASK or MIDPOINT, not {request.what_to_show}"
    return None


def answer_ticks(tape: Tape, symbol: str, request: HistoricalRequest) -> list[bytes]:
    """The frames answering a valid historical-ticks request (the last one has done=1)."""
    start, _, end = request.end.partition("|")
    wanted = int(request.duration)
    if request.what_to_show == "TRADES":
        rows: list[tuple[object, ...]] = [
            _last_row(t) for t in _window(tape.trades[symbol], start, end, wanted)
        ]
        msg = 98
    else:
        quotes = _window(tape.quotes[symbol], start, end, wanted)
        msg = 97 if request.what_to_show == "BID_ASK" else 96
        rows = [_bid_ask_row(q) if msg == 97 else _midpoint_row(q) for q in quotes]
    frames = []
    for first in range(0, max(len(rows), 1), TICKS_PER_FRAME):
        chunk = rows[first : first + TICKS_PER_FRAME]
        done = first + TICKS_PER_FRAME >= len(rows)
        frames.append(encode(msg, request.req_id, len(chunk), *[f for row in chunk for f in row], done))
    return frames


def refuse_ticks(request: HistoricalRequest, reason: str) -> bytes:
    return error(request.req_id, 162, BAD_TICKS_TEXT.format(reason=reason))


def _window(items: list[T], start: str, end: str, wanted: int) -> list[T]:
    """From `start`: the first `wanted` at or after it, plus the rest of the last second reached.
    To `end`: the last `wanted` at or before it, plus the rest of the first second reached."""
    if start:
        since = int(parse_end(start).timestamp())
        after = [i for i in items if i.epoch >= since]
        chosen = after[:wanted]
        if chosen:
            chosen += [i for i in after[wanted:] if i.epoch == chosen[-1].epoch]
        return chosen
    until = int(parse_end(end).timestamp())
    before = [i for i in items if i.epoch <= until]
    chosen = before[-wanted:]
    if chosen:
        chosen = [i for i in before[: len(before) - len(chosen)] if i.epoch == chosen[0].epoch] + chosen
    return chosen


def _last_row(t: TapeTrade) -> tuple[object, ...]:
    return (t.epoch, t.mask, t.price, t.size, t.exchange, t.conditions)


def _bid_ask_row(q: TapeQuote) -> tuple[object, ...]:
    """In historicalTicksBidAsk the mask bits are the other way round: 1 = askPastHigh, 2 = bidPastLow."""
    mask = int(q.ask_past_high) | int(q.bid_past_low) << 1
    return (q.epoch, mask, q.bid, q.ask, q.bid_size, q.ask_size)


def _midpoint_row(q: TapeQuote) -> tuple[object, ...]:
    mid = (Decimal(q.bid) + Decimal(q.ask)) / 2
    return (q.epoch, "", str(mid), 0)
