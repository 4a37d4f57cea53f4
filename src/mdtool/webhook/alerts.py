"""TradingView alert bodies to `Tick`s: pure, so every rule is tested without a server.

An alert is a JSON object as a TradingView template renders it. The accepted fields and their
precedence when several spellings are present:

- symbol: `ticker`, then `symbol` (required)
- price: `close`, then `price` (required; JSON number or numeric string, kept exact)
- exchange: `exchange` (default `TradingView`)
- size: `volume`, then `size` (optional)
- time: `timestamp`, then `timenow`, then `time` (optional; ISO-8601, epoch seconds or milliseconds).
  `timenow` beats `time` because `{{time}}` is the bar's open time while `{{timenow}}` is when the
  alert fired, which is the event a tick records.
- `id`: the alert id, used as `trade_id`; without it the SHA-256 of the raw body is, so an identical
  retried delivery maps to the same row.

TradingView's placeholders: `{{exchange}}:{{ticker}}` in the symbol field splits into exchange and
symbol (a separate `exchange` must then agree); `{{volume}}` may render as `NaN` where a symbol has no
volume, which means "no size"; `{{interval}}` is kept in the payload as sent. A placeholder TradingView
left unfilled (`"{{close}}"`) in a field read here is refused naming the field, because storing the
literal text would hide a broken alert template.

Everything the database would refuse is refused here with a 400 naming the field, because a record
the database rejects would otherwise sit in the never-dropping writer's queue and be retried forever:
NUL characters and lone surrogates (invalid in `text`/`jsonb`), key fields longer than a B-tree index
entry allows, numbers beyond the 28 significant digits `Decimal` keeps exactly, absurd timestamps,
and JSON nested deeper than PostgreSQL's stack allows.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from mdtool.errors import RecordError
from mdtool.records import Tick, to_decimal

SOURCE = "TradingView"
DEFAULT_EXCHANGE = "TradingView"
SYMBOL_FIELDS = ("ticker", "symbol")
PRICE_FIELDS = ("close", "price")
SIZE_FIELDS = ("volume", "size")
TIME_FIELDS = ("timestamp", "timenow", "time")
MAX_TEXT_CHARS = 128
MAX_DIGITS = 28
MIN_ADJUSTED_EXPONENT = -30
MAX_DEPTH = 32
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
EPOCH_MILLIS_FROM = Decimal(100_000_000_000)  # 1e11 s is the year 5138; 1e11 ms is 1973
PLACEHOLDER_CHECKED = (
    *SYMBOL_FIELDS,
    *PRICE_FIELDS,
    *SIZE_FIELDS,
    *TIME_FIELDS,
    "exchange",
    "id",
    "interval",
)
_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")
_NUMERIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class AlertError(RecordError):
    """An alert the service refuses (400); `field` names the offending field for the sender."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Alert:
    """A parsed alert; `timed` is False when the time is the receipt time (no time field was sent).

    `digest` is the SHA-256 of the raw body: what identifies a retried delivery.
    """

    tick: Tick
    timed: bool
    digest: str


def parse_alert(body: bytes, received_at: datetime) -> Alert:
    """Validate and normalise one raw alert body; raises `AlertError` naming the first bad field."""
    return alert_from(load_document(body), body_digest(body), received_at)


def body_digest(body: bytes) -> str:
    """The SHA-256 of the raw body: what identifies a retried delivery of an alert without `id`."""
    return hashlib.sha256(body).hexdigest()


def alert_from(document: dict[str, Any], digest: str, received_at: datetime) -> Alert:
    """Validate and normalise a parsed alert object; `digest` identifies the delivery (see `Alert`)."""
    _refuse_placeholders(document)
    payload = _json_safe(document, "body", 0)
    symbol_field, symbol = _first(document, SYMBOL_FIELDS, required=True)
    price_field, price = _first(document, PRICE_FIELDS, required=True)
    size_field, size = _first(document, SIZE_FIELDS, required=False)
    time_field, moment = _first(document, TIME_FIELDS, required=False)
    exchange, symbol = _exchange_and_symbol(document.get("exchange"), symbol, symbol_field)
    alert_id = document.get("id")
    tick = Tick(
        exchange=exchange,
        symbol=symbol,
        timestamp=received_at if moment is None else parse_time(moment, time_field),
        source=SOURCE,
        trade_id=digest if alert_id is None else _alert_id(alert_id),
        price=parse_decimal(price, price_field),
        size=None if size is None else _size(size, size_field),
        payload=payload,
    )
    return Alert(tick=tick, timed=moment is not None, digest=digest)


def load_document(body: bytes) -> dict[str, Any]:
    """The JSON object of a body, whatever its content type (TradingView says `text/plain` for non-JSON)."""
    try:
        document = json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise AlertError(
            "body",
            f"not valid JSON ({_reason(error)}); the alert message must be a JSON object "
            "(TradingView sends it as text/plain when it is not valid JSON)",
        ) from None
    if not isinstance(document, dict):
        raise AlertError("body", f"must be a JSON object, not {_json_type(document)}")
    return document


def _refuse_placeholders(document: dict[str, Any]) -> None:
    for field in PLACEHOLDER_CHECKED:
        value = document.get(field)
        if isinstance(value, str) and _PLACEHOLDER.search(value):
            raise AlertError(
                field,
                f"unfilled TradingView placeholder {value[:40]!r}: TradingView leaves a placeholder "
                "as written when it cannot fill it; fix the alert message",
            )


def _exchange_and_symbol(exchange: object, symbol: object, symbol_field: str) -> tuple[str, str]:
    """Exchange and symbol, splitting `{{exchange}}:{{ticker}}` (`BINANCE:BTCUSDT`) when sent that way."""
    text = _text(symbol, symbol_field)
    named = None if exchange is None else _text(exchange, "exchange")
    prefix, colon, rest = text.partition(":")
    if not colon or not prefix or not rest or ":" in rest:
        return named or DEFAULT_EXCHANGE, text
    prefix, rest = prefix.strip(), _text(rest, symbol_field)
    if named is not None and named.casefold() != prefix.casefold():
        raise AlertError(symbol_field, f"names exchange {prefix!r} but the exchange field says {named!r}")
    return named or prefix, rest


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _reason(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error).splitlines()[0][:120]


def _first(document: dict[str, Any], names: tuple[str, ...], *, required: bool) -> tuple[str, Any]:
    """The first of `names` present with a non-null value, and which one it was."""
    for name in names:
        if document.get(name) is not None:
            return name, document[name]
    if required:
        raise AlertError(names[0], f"missing (send {' or '.join(names)})")
    return names[0], None


def _text(value: object, field: str) -> str:
    """A key column value: a short, printable, non-empty string (surrounding spaces dropped)."""
    if not isinstance(value, str):
        raise AlertError(field, f"must be a string, not {_json_type(value)}")
    text = value.strip()
    if not text:
        raise AlertError(field, "must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise AlertError(field, f"longer than {MAX_TEXT_CHARS} characters")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in text):
        raise AlertError(field, "contains control characters")
    return text


def _alert_id(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return _text(str(value), "id")
    return _text(value, "id")


def parse_decimal(value: object, field: str) -> Decimal:
    """An exact decimal from a JSON number (already a `Decimal`/`int`) or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise AlertError(field, f"must be a number or numeric string, not {_json_type(value)}")
    if isinstance(value, str):
        if not _NUMERIC.fullmatch(value.strip()):
            raise AlertError(field, f"not a number: {value[:40]!r}")
        number = Decimal(value.strip())
    else:
        number = Decimal(value)
    if not number.is_zero():
        significant = len("".join(map(str, number.as_tuple().digits)).rstrip("0"))
        if significant > MAX_DIGITS:
            raise AlertError(field, f"more than {MAX_DIGITS} significant digits")
        if not MIN_ADJUSTED_EXPONENT <= number.adjusted() < MAX_DIGITS:
            raise AlertError(field, "out of range")
    try:
        return to_decimal(number, field)
    except (RecordError, InvalidOperation) as error:
        raise AlertError(field, str(error)) from None


def _size(value: object, field: str) -> Decimal | None:
    if isinstance(value, str) and value.strip().lower() == "nan":
        return None  # TradingView's `{{volume}}` on a symbol without volume
    size = parse_decimal(value, field)
    if size < 0:
        raise AlertError(field, f"must not be negative, got {size}")
    return size


def parse_time(value: object, field: str) -> datetime:
    """ISO-8601 (no offset means UTC), or epoch seconds, or epoch milliseconds (from 1e11 up)."""
    if isinstance(value, str) and not _NUMERIC.fullmatch(value.strip()):
        moment = _iso_time(value, field)
    else:
        moment = _epoch_time(parse_decimal(value, field), field)
    if not EARLIEST <= moment < LATEST:
        raise AlertError(field, f"{moment.isoformat()} is outside {EARLIEST.year}..{LATEST.year - 1}")
    return moment


def _iso_time(value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise AlertError(field, f"not an ISO-8601 time or epoch number: {value[:40]!r}") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise AlertError(field, "out of range") from None


def _epoch_time(number: Decimal, field: str) -> datetime:
    seconds = number / 1000 if abs(number) >= EPOCH_MILLIS_FROM else number
    micros = int((seconds * 1_000_000).to_integral_value())
    try:
        return EARLIEST + timedelta(microseconds=micros)
    except OverflowError:
        raise AlertError(field, "out of range") from None


def _json_safe(value: Any, path: str, depth: int) -> Any:
    """A copy storable as `jsonb`: decimals become JSON numbers, unstorable strings are refused.

    Decimals become floats (or ints) because the JSON encoders of psycopg and SQLAlchemy cannot
    serialise `Decimal`; the exact price and size live in their own columns.
    """
    if depth > MAX_DEPTH:
        raise AlertError(path, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        return {
            _storable_string(key, path): _json_safe(item, _child(path, key, depth), depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_json_safe(item, path, depth + 1) for item in value]
    if isinstance(value, str):
        return _storable_string(value, path)
    if isinstance(value, Decimal):
        number = float(value)
        if number in (float("inf"), float("-inf")):
            raise AlertError(path, "number out of range")
        return number
    return value


def _child(path: str, key: str, depth: int) -> str:
    """Top-level fields are named as sent; deeper ones keep the top-level name for the message."""
    return key if depth == 0 else path


def _storable_string(value: str, path: str) -> str:
    if "\x00" in value:
        raise AlertError(path, "contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AlertError(path, "contains an unpaired surrogate") from None
    return value


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")
