"""Binance JSON to records: pure functions, no I/O, so every field mapping is tested without sockets.

Prices and sizes stay the exchange's decimal strings until `Bar`/`Tick` turn them into `Decimal`;
`json.loads` never sees a float for them because Binance sends them quoted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from mdtool.errors import ExchangeError
from mdtool.records import Bar, Tick

EXCHANGE = "binance"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def aggressor_side(buyer_is_maker: bool) -> str:
    """Binance's `m`/`isBuyerMaker`: when the buyer made the book, the seller crossed it."""
    return "sell" if buyer_is_maker else "buy"


def parse_trade_event(event: Mapping[str, Any]) -> Tick:
    """A `<symbol>@trade` payload: {"e": "trade", "s", "t", "p", "q", "T", "m", ...}."""
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


def unwrap_stream_message(message: Any) -> Mapping[str, Any] | None:
    """The trade event inside a stream message, or None for acks, errors and other events.

    The combined endpoint wraps events as {"stream": ..., "data": ...}; a raw endpoint does not.
    Subscription replies ({"result": null, "id": 1}) and errors carry no event.
    """
    if not isinstance(message, dict):
        return None
    data = message.get("data", message) if "stream" in message else message
    if isinstance(data, dict) and data.get("e") == "trade":
        return data
    return None


def is_server_shutdown(message: Any) -> bool:
    """Binance's `serverShutdown` notice (bare, in a combined-stream envelope, or as an `event`)."""
    if not isinstance(message, dict):
        return False
    for candidate in (message, message.get("data"), message.get("event")):
        if isinstance(candidate, dict) and candidate.get("e") == "serverShutdown":
            return True
    return False
