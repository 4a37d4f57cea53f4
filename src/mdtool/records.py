"""`Bar` and `Tick`: the only things adapters produce and storage consumes.

Validation lives here, once, because every venue can send the same nonsense (a high below the low, a
negative size, a timestamp without a zone). Decimals are normalised on the way in so that
`"42000.01000000"` becomes `Decimal('42000.01')` whatever the backend later does with scale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Context, Decimal, InvalidOperation
from itertools import starmap
from typing import Any

from mdtool.errors import RecordError
from mdtool.intervals import validate_interval

SIDES = ("buy", "sell")
_MAX_PLAIN_LENGTH = 40
"""Plain decimal strings up to this length cannot leave the +-1e40 range."""
MAX_DECIMAL_EXPONENT = 40
"""No market quotes a price or size beyond 1e40 or below 1e-40; such a value is a venue bug."""
DecimalLike = Decimal | str | int


def to_decimal(value: DecimalLike, name: str) -> Decimal:
    """Exact decimal from a venue value; floats are refused because they already lost digits."""
    if type(value) is str and len(value) <= _MAX_PLAIN_LENGTH:
        # Venues send fixed-point strings ("42000.01000000"): trimming the text is ~3x cheaper than
        # normalising the Decimal, and this runs five times per bar.
        trimmed = value.rstrip("0").rstrip(".") if "." in value else value
        digits = trimmed.replace(".", "", 1).removeprefix("-")
        if digits.isascii() and digits.isdigit():
            number = Decimal(trimmed)
            return number if number else Decimal(0)
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise RecordError(f"{name} must be a decimal, string or integer, not {type(value).__name__}")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise RecordError(f"{name} is not a number: {value!r}") from None
    if not number.is_finite():
        raise RecordError(f"{name} must be finite, got {value!r}")
    if not number.is_zero() and not -MAX_DECIMAL_EXPONENT <= number.adjusted() <= MAX_DECIMAL_EXPONENT:
        raise RecordError(f"{name} is out of range: {value!r}")
    return normalize_decimal(number)


def normalize_decimal(number: Decimal) -> Decimal:
    """Strip trailing zeros without switching to exponent notation (100 stays 100, not 1E+2).

    Exact whatever the number of digits: the arithmetic runs with enough precision for every digit
    (the default context keeps 28 and would round a longer value).
    """
    if number.is_zero():
        return Decimal(0)
    _sign, digits, exponent = number.as_tuple()
    exact = Context(prec=len(digits) + max(exponent if isinstance(exponent, int) else 0, 0) + 1)
    reduced = number.normalize(exact)
    exponent = reduced.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return reduced.quantize(Decimal(1), context=exact)
    return reduced


def to_utc(moment: datetime, name: str = "timestamp") -> datetime:
    """UTC copy of an aware datetime; a naive one is an error, since its zone would be a guess."""
    if not isinstance(moment, datetime):
        raise RecordError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RecordError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _require_text(value: object, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"{name} must be a non-empty string")


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed OHLCV bar; `timestamp` is the bar's open time in UTC."""

    exchange: str
    symbol: str
    interval: str
    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal | None = None
    trade_count: int | None = None

    def __post_init__(self) -> None:
        _require_text(self.exchange, "exchange")
        _require_text(self.symbol, "symbol")
        try:
            validate_interval(self.interval)
        except Exception as exc:
            raise RecordError(str(exc)) from None
        setter = object.__setattr__
        setter(self, "timestamp", to_utc(self.timestamp))
        setter(self, "open", to_decimal(self.open, "open"))
        setter(self, "high", to_decimal(self.high, "high"))
        setter(self, "low", to_decimal(self.low, "low"))
        setter(self, "close", to_decimal(self.close, "close"))
        setter(self, "volume", to_decimal(self.volume, "volume"))
        if self.quote_volume is not None:
            setter(self, "quote_volume", to_decimal(self.quote_volume, "quote_volume"))
        if self.high < self.low:
            raise RecordError(f"bar {self.symbol} {self.timestamp}: high {self.high} < low {self.low}")
        for name in ("open", "close"):
            value = getattr(self, name)
            if not self.low <= value <= self.high:
                raise RecordError(
                    f"bar {self.symbol} {self.timestamp}: {name} {value} outside [{self.low}, {self.high}]"
                )
        if self.volume < 0 or (self.quote_volume is not None and self.quote_volume < 0):
            raise RecordError(f"bar {self.symbol} {self.timestamp}: negative volume")
        if self.trade_count is not None and (
            isinstance(self.trade_count, bool)
            or not isinstance(self.trade_count, int)
            or self.trade_count < 0
        ):
            raise RecordError(f"bar {self.symbol} {self.timestamp}: bad trade_count {self.trade_count!r}")


def bars_from_checked(values: Iterable[tuple[Any, ...]]) -> list[Bar]:
    """Bars from field tuples (in `Bar` field order) that are already exactly what `Bar(...)` would
    store: a valid interval, non-empty names, a UTC timestamp, normalised decimals that passed the
    bar checks, an int trade count. Nothing is checked again.

    For adapters that check a whole page of venue data at once (`parse_klines`), where running
    `__post_init__` per bar was the largest cost of a backfill. Any doubt belongs in `Bar(...)`.
    Each bar is filled as an `_UncheckedBar` (plain slot stores, about three times cheaper than
    calling a frozen slot's setter eleven times) and then becomes the `Bar` it is.
    """
    bars = list(starmap(_UncheckedBar, values))
    for bar in bars:
        bar.__class__ = Bar  # type: ignore[assignment]
    return bars  # type: ignore[return-value]


class _UncheckedBar:
    """`Bar`'s memory layout (the same slots, in order) without its checks or frozenness: a
    Python object may change its class to one of the same layout, which is how
    `bars_from_checked` fills a bar with plain attribute stores and then hands out a real `Bar`."""

    __slots__ = Bar.__slots__

    def __init__(
        self,
        exchange: str,
        symbol: str,
        interval: str,
        timestamp: datetime,
        open_: Decimal,
        high: Decimal,
        low: Decimal,
        close: Decimal,
        volume: Decimal,
        quote_volume: Decimal | None,
        trade_count: int | None,
    ) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.interval = interval
        self.timestamp = timestamp
        self.open = open_
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.quote_volume = quote_volume
        self.trade_count = trade_count


@dataclass(frozen=True, slots=True)
class Tick:
    """One trade, quote or alert; `(exchange, symbol, timestamp, source, trade_id)` identifies it."""

    exchange: str
    symbol: str
    timestamp: datetime
    source: str
    trade_id: str
    price: Decimal
    size: Decimal | None = None
    side: str | None = None
    payload: dict[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        for name in ("exchange", "symbol", "source", "trade_id"):
            _require_text(getattr(self, name), name)
        setter = object.__setattr__
        setter(self, "timestamp", to_utc(self.timestamp))
        setter(self, "price", to_decimal(self.price, "price"))
        if self.size is not None:
            size = to_decimal(self.size, "size")
            if size < 0:
                raise RecordError(f"tick {self.symbol} {self.trade_id}: negative size {size}")
            setter(self, "size", size)
        if self.side is not None and self.side not in SIDES:
            raise RecordError(
                f"tick {self.symbol} {self.trade_id}: side must be buy or sell, not {self.side!r}"
            )
        if self.payload is not None and not isinstance(self.payload, dict):
            raise RecordError(f"tick {self.symbol} {self.trade_id}: payload must be a JSON object")


def ticks_from_checked(
    exchange: str,
    source: str,
    rows: Iterable[tuple[str, datetime, str, Decimal, Decimal | None, str | None]],
) -> list[Tick]:
    """`tick_from_checked` for many ticks of one exchange and source: rows of
    `(symbol, timestamp, trade_id, price, size, side)`, one loop for a whole read of a stream."""
    new = object.__new__
    (
        set_exchange,
        set_symbol,
        set_timestamp,
        set_source,
        set_id,
        set_price,
        set_size,
        set_side,
        set_payload,
    ) = _TICK_SLOTS
    ticks: list[Tick] = []
    append = ticks.append
    for symbol, timestamp, trade_id, price, size, side in rows:
        tick = new(Tick)
        set_exchange(tick, exchange)
        set_symbol(tick, symbol)
        set_timestamp(tick, timestamp)
        set_source(tick, source)
        set_id(tick, trade_id)
        set_price(tick, price)
        set_size(tick, size)
        set_side(tick, side)
        set_payload(tick, None)
        append(tick)
    return ticks


_TICK_SLOTS = tuple(Tick.__dict__[name].__set__ for name in Tick.__slots__)
