"""Binance JSON to records: pure functions, no I/O, so every field mapping is tested without sockets.

Prices and sizes stay the exchange's decimal strings until `Bar`/`Tick` turn them into `Decimal`;
`json.loads` never sees a float for them because Binance sends them quoted. A page of klines is checked
as a whole (`parse_klines`), which is what lets a backfill run at Binance's own rate limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Context, InvalidOperation
from itertools import accumulate, chain, repeat
from operator import add, itemgetter, le, mul
from typing import Any

from mdtool.errors import ExchangeError
from mdtool.ranges import evenly_spaced
from mdtool.records import Bar, Tick, bars_from_checked

EXCHANGE = "binance"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KLINE_DECIMALS = itemgetter(1, 2, 3, 4, 5, 7)
"""open, high, low, close, volume, quote volume: the decimal strings of a kline row."""
_WITHOUT_DIGITS = str.maketrans("", "", "0123456789")
"""Deletes ASCII digits: a field of digits with exactly one point, what Binance sends for decimals,
leaves just the point (one C pass over the page, where a regular expression took five times as long)."""
_MILLISECOND = timedelta(milliseconds=1)
_PLAIN_LENGTH = 40
"""As in `records.to_decimal`: plain decimal strings this long cannot leave the +-1e40 range."""


def from_ms(millis: int) -> datetime:
    """Exact UTC datetime of a Binance millisecond timestamp (no float rounding)."""
    return _EPOCH + timedelta(milliseconds=millis)


def to_ms(moment: datetime) -> int:
    """Binance millisecond timestamp of an aware datetime."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def kline_open_ms(row: Sequence[Any]) -> int:
    """Open time of a `GET /api/v3/klines` row, checked because pagination depends on it."""
    if not isinstance(row, list) or len(row) < 9 or not isinstance(row[0], int):
        raise ExchangeError(f"Binance sent a malformed kline: {str(row)[:200]}")
    return row[0]


def parse_kline(row: Sequence[Any], symbol: str, interval: str) -> Bar:
    """One kline row: [open time, open, high, low, close, volume, close time, quote volume, trades, ...]."""
    return Bar(
        exchange=EXCHANGE,
        symbol=symbol,
        interval=interval,
        timestamp=from_ms(kline_open_ms(row)),
        open=row[1],
        high=row[2],
        low=row[3],
        close=row[4],
        volume=row[5],
        quote_volume=row[7],
        trade_count=int(row[8]),
    )


def parse_klines(rows: Sequence[Any], symbol: str, interval: str, start_ms: int, stop_ms: int) -> list[Bar]:
    """The bars of a `GET /api/v3/klines` page that open in [start_ms, stop_ms).

    Equal to `parse_kline` row by row, and that is what runs whenever the page is not the usual one.
    The usual page (every row a list of Binance's shape, every decimal a plain unsigned fixed-point
    string, every open time an integer) is checked as a whole and turned into bars column by
    column with C-level passes (`map`, slices, `zip`); the only bytecode per bar is the plain slot
    stores that fill it (`records.bars_from_checked`). That keeps parsing from bounding the backfill.
    """
    try:
        bars = _parse_plain_page(rows, symbol, interval, start_ms, stop_ms)
    except (TypeError, IndexError, KeyError, ValueError, OverflowError, InvalidOperation):
        bars = None  # the general path decides (and reports what is wrong)
    if bars is None:
        bars = [
            parse_kline(row, symbol, interval) for row in rows if start_ms <= kline_open_ms(row) < stop_ms
        ]
    return bars


def _parse_plain_page(
    rows: Sequence[Any], symbol: str, interval: str, start_ms: int, stop_ms: int
) -> list[Bar] | None:
    """`parse_klines` of a usual page; None (or a lookup/type/value error) when the page is not usual."""
    if not rows or set(map(type, rows)) != {list} or min(map(len, rows)) < 9:
        return None if rows else []
    opens = list(map(itemgetter(0), rows))
    if set(map(type, opens)) != {int}:
        return None
    page: Sequence[list[Any]] = rows
    if not (start_ms <= min(opens) and max(opens) < stop_ms):
        page = [row for row in rows if start_ms <= row[0] < stop_ms]
        opens = list(map(itemgetter(0), page))
        if not page:
            return []
    decimals = list(chain.from_iterable(map(_KLINE_DECIMALS, page)))
    plain = ",".join(decimals).translate(_WITHOUT_DIGITS) == ",".join(repeat(".", len(decimals)))
    if not plain or max(map(len, decimals)) > _PLAIN_LENGTH:
        return None  # signs, exponents, spaces, no point or two: the general path decides
    counts = list(map(itemgetter(8), page))
    if set(map(type, counts)) != {int} or min(counts) < 0:
        return None
    first = parse_kline(page[0], symbol, interval)  # checks the names and the interval once for the page
    return _plain_bars(page, opens, decimals, counts, first)


def _plain_bars(
    page: Sequence[list[Any]], opens: list[int], decimals: list[str], counts: list[int], first: Bar
) -> list[Bar] | None:
    """Bars of a usual page, built column by column; None when a bar check fails (for `parse_kline`
    to report it).

    Each decimal string has exactly one point and only digits (checked for the page), so trimming
    its trailing zeros gives the normalised decimal, as in `records.to_decimal`: a point left at the
    end is read as none (`Decimal("42000.")` is 42000, exponent 0), and a string that trims to a bare
    point (".0") raises `InvalidOperation`, so the page takes the general path. Open times are exact
    milliseconds; on the usual page they are evenly spaced, and each is the one before plus the step
    (one addition, a quarter of the cost of `datetime.fromtimestamp`). Decimals are made by a
    context's `create_decimal`, which skips the keyword parsing and the thread's context lookup of
    `Decimal(...)`; the page's own context, wide enough for any field, keeps them exact.
    """
    exact = Context(prec=_PLAIN_LENGTH)  # every digit of a field fits: `create_decimal` never rounds
    numbers = list(map(exact.create_decimal, map(str.rstrip, decimals, repeat("0"))))
    opens_, highs, lows, closes = numbers[0::6], numbers[1::6], numbers[2::6], numbers[3::6]
    if not (
        all(map(le, lows, opens_))
        and all(map(le, opens_, highs))
        and all(map(le, lows, closes))
        and all(map(le, closes, highs))
    ):
        return None
    times = _open_times(opens)
    columns = (
        repeat(first.exchange), repeat(first.symbol), repeat(first.interval), times,
        opens_, highs, lows, closes, numbers[4::6], numbers[5::6], counts,
    )  # fmt: skip
    return bars_from_checked(zip(*columns, strict=False))  # the `repeat`s are endless


def _open_times(opens: list[int]) -> Iterator[datetime]:
    """UTC datetimes of millisecond open times, exactly as `from_ms` makes them."""
    step = opens[1] - opens[0] if len(opens) > 1 else 1
    if step > 0 and evenly_spaced(opens, step):
        return accumulate(
            repeat(timedelta(milliseconds=step), len(opens) - 1), add, initial=from_ms(opens[0])
        )
    return map(add, repeat(_EPOCH), map(mul, repeat(_MILLISECOND), opens))


def aggressor_side(buyer_is_maker: bool) -> str:
    """Binance's `m`/`isBuyerMaker`: when the buyer made the book, the seller crossed it."""
    return "sell" if buyer_is_maker else "buy"


def parse_trade_event(event: Mapping[str, Any]) -> Tick:
    """A `<symbol>@trade` payload: {"e": "trade", "s", "t", "p", "q", "T", "m", ...}, with every check.

    The live stream decodes a read's trades at once (`decode.TradeDecoder`, the same ticks); this is
    the definition it is tested against and the path for anything unusual.
    """
    return Tick(
        exchange=EXCHANGE,
        symbol=event["s"],
        timestamp=from_ms(event["T"]),
        source="trade",
        trade_id=str(event["t"]),
        price=event["p"],
        size=event["q"],
        side=aggressor_side(bool(event["m"])),
    )


def parse_rest_trade(row: Mapping[str, Any], symbol: str) -> Tick:
    """A `GET /api/v3/historicalTrades` row: same trade as the stream sends, other field names."""
    return Tick(
        exchange=EXCHANGE,
        symbol=symbol,
        timestamp=from_ms(row["time"]),
        source="trade",
        trade_id=str(row["id"]),
        price=row["price"],
        size=row["qty"],
        side=aggressor_side(bool(row["isBuyerMaker"])),
    )


def is_server_shutdown(message: Any) -> bool:
    """Binance's `serverShutdown` notice (bare, in a combined-stream envelope, or as an `event`)."""
    if not isinstance(message, dict):
        return False
    for candidate in (message, message.get("data"), message.get("event")):
        if isinstance(candidate, dict) and candidate.get("e") == "serverShutdown":
            return True
    return False
