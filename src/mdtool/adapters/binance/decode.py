"""Every message of one socket read decoded at once: the per-trade hot path of a market stream.

A whole market is tens of thousands of trades a second, each a small JSON frame, and the process is
bound by the GIL, so the cost per trade is the stream's ceiling. Three things keep it low:

* msgspec decodes a trade straight into a typed struct, checking the field types in C, which is
  about twice as fast as building a dict (orjson) and leaves no type checks to Python;
* a read's messages are decoded in one loop with everything in locals;
* what a market repeats is remembered: a symbol's price moves over a few levels, lot sizes recur,
  trades share milliseconds, so most trades normalise no decimal and build no datetime.

The result is the same `Tick`, value for value, as `parse.parse_trade_event`: anything that does not
fit the typed struct (a number sent unquoted, an id sent as text, a missing field) is decoded
generically and goes through `parse_trade_event`, which raises the usual error or builds the tick
with every check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import msgspec

from mdtool.adapters.binance.parse import EXCHANGE, parse_trade_event
from mdtool.errors import RecordError
from mdtool.records import Tick, ticks_from_checked, to_decimal

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CACHE_LIMIT = 100_000
"""Distinct price (and size) strings remembered before that memory is cleared (a few MB at most)."""


class TradeEvent(msgspec.Struct, gc=False):
    """The fields of a `<symbol>@trade` payload that a tick needs, with the types Binance documents.

    Untracked by the garbage collector (it holds no containers), so a busy stream triggers fewer
    collections. The symbol is checked for blankness in Python: a `Meta` pattern costs a regex search
    per message, which doubled the decode.
    """

    e: Literal["trade"]
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool


class CombinedTrade(msgspec.Struct, gc=False):
    """A trade on the combined endpoint: `{"stream": "<symbol>@trade", "data": {...}}`."""

    stream: str
    data: TradeEvent


_decode_combined = msgspec.json.Decoder(CombinedTrade).decode
_decode_any = msgspec.json.Decoder().decode
TradeForm = Callable[[bytes], TradeEvent]


def _trade_in_envelope(text: bytes) -> TradeEvent:
    return _decode_combined(text).data


_FORMS: tuple[TradeForm, TradeForm] = (_trade_in_envelope, msgspec.json.Decoder(TradeEvent).decode)
"""The two ways Binance sends a trade: combined endpoint (what mdtool asks for first) and raw."""


@dataclass
class DecodedRead:
    """What the messages of one read held."""

    ticks: list[Tick] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    """Each tick's trade id as an integer (what the sequencer compares), in `ticks` order."""
    others: list[Any] = field(default_factory=list)
    """Decoded messages that are not trades: subscription replies, errors, shutdown notices."""
    malformed: list[tuple[Any, str]] = field(default_factory=list)
    """`(message or text, reason)` of what could not be decoded: not JSON, or a trade failing its checks."""
    last_trade_ms: int | None = None
    """Trade time (`T`) of the last trade, for the stream's lag figure."""


class TradeDecoder:
    """Decodes stream messages into ticks, remembering repeated values (one per consumer thread)."""

    def __init__(self, cache_limit: int = CACHE_LIMIT) -> None:
        self._cache_limit = cache_limit
        self._prices: dict[str, Decimal] = {}
        self._sizes: dict[str, Decimal] = {}
        """Sizes are remembered apart from prices: only a size that is not negative is a valid size."""
        self._time_ms = -1
        self._time = _EPOCH
        self._forms = _FORMS
        """The envelope tried first: the combined one, or the raw one once a connection sends that."""

    def decode(self, texts: Iterable[bytes]) -> DecodedRead:
        """The trades and other messages of `texts`, in order."""
        read = DecodedRead()
        rows: list[tuple[str, datetime, str, Decimal, Decimal, str]] = []
        ids = read.ids
        prices, sizes = self._prices, self._sizes
        price_of, size_of = prices.get, sizes.get
        time_ms, moment = self._time_ms, self._time
        first = self._forms[0]
        invalid = msgspec.ValidationError
        last_ms = None
        for text in texts:
            try:
                event = first(text)
            except invalid:
                other = self._other_form(text, read, rows)
                if other is None:
                    continue
                event, first = other, self._forms[0]
            except msgspec.DecodeError:
                read.malformed.append((text, "not JSON"))
                continue
            price, size = price_of(event.p), size_of(event.q)
            if not event.s.strip():
                self._generic(text, read, rows)
                continue
            if price is None or size is None:
                if not self._remember(event.p, event.q):
                    self._generic(text, read, rows)
                    continue
                price, size = prices[event.p], sizes[event.q]
            trade_ms = event.T
            if trade_ms != time_ms:
                time_ms, moment = trade_ms, _EPOCH + timedelta(milliseconds=trade_ms)
            rows.append((event.s, moment, str(event.t), price, size, "sell" if event.m else "buy"))
            ids.append(event.t)
            last_ms = trade_ms
        self._time_ms, self._time = time_ms, moment
        read.ticks.extend(ticks_from_checked(EXCHANGE, "trade", rows))
        read.last_trade_ms = last_ms
        return read

    def _other_form(self, text: bytes, read: DecodedRead, rows: list[Any]) -> TradeEvent | None:
        """A message the preferred form refused: a trade in the other envelope (preferred from now on),
        or anything else, decoded generically (None: it was dealt with here)."""
        try:
            event = self._forms[1](text)
        except msgspec.ValidationError:
            pass
        else:
            self._forms = (self._forms[1], self._forms[0])
            return event
        self._generic(text, read, rows)
        return None

    def _generic(self, text: bytes, read: DecodedRead, rows: list[Any]) -> None:
        """A message decoded without a type: an unusual trade for every check, or another message."""
        try:
            message = _decode_any(text)
        except msgspec.DecodeError:
            read.malformed.append((text, "not JSON"))
            return
        event = message.get("data", message) if type(message) is dict and "stream" in message else message
        if type(event) is dict and event.get("e") == "trade":
            self._checked(event, read, rows)
        else:
            read.others.append(message)

    def _remember(self, price_text: str, size_text: str) -> bool:
        """Normalise a new price and size into the memory; False when the trade needs every check.

        Only text that `to_decimal` accepts, with a size that is not negative, qualifies: exactly the
        cases where the checked `Tick` holds the same decimals.
        """
        try:
            price, size = to_decimal(price_text, "price"), to_decimal(size_text, "size")
        except RecordError:
            return False
        if size < 0:
            return False
        for memory in (self._prices, self._sizes):
            if len(memory) >= self._cache_limit:
                memory.clear()
        self._prices[price_text], self._sizes[size_text] = price, size
        return True

    @staticmethod
    def _checked(event: dict[str, Any], read: DecodedRead, rows: list[Any]) -> None:
        """An unusual trade through every check: a tick after the fast ones so far, or a malformed entry.

        The fast rows gathered so far become ticks first, so the read keeps its order.
        """
        try:
            tick = parse_trade_event(event)
            trade_id = int(tick.trade_id)
        except (KeyError, TypeError, ValueError) as exc:
            read.malformed.append((event, str(exc) or type(exc).__name__))
            return
        read.ticks.extend(ticks_from_checked(EXCHANGE, "trade", rows))
        rows.clear()
        read.ticks.append(tick)
        read.ids.append(trade_id)
