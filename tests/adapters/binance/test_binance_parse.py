"""Pure mapping of Binance JSON to records and of rate-limit metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from mdtool.adapters.binance.parse import (
    from_ms,
    is_server_shutdown,
    parse_kline,
    parse_rest_trade,
    parse_trade_event,
    to_ms,
)
from mdtool.adapters.binance.ratelimit import parse_rate_limits, parse_retry_after, used_weights

KLINE = [
    1499040000000,
    "0.01634790",
    "0.80000000",
    "0.01575800",
    "0.01577100",
    "148976.11427815",
    1499644799999,
    "2434.19055334",
    308,
    "1756.87402397",
    "28.46694368",
    "0",
]


def test_kline_maps_every_field_exactly() -> None:
    bar = parse_kline(KLINE, "BNBBTC", "1m")
    assert bar.timestamp == datetime(2017, 7, 3, tzinfo=UTC)
    assert (bar.open, bar.high, bar.low, bar.close) == (
        Decimal("0.0163479"),
        Decimal("0.8"),
        Decimal("0.015758"),
        Decimal("0.015771"),
    )
    assert bar.volume == Decimal("148976.11427815")
    assert bar.quote_volume == Decimal("2434.19055334")
    assert bar.trade_count == 308
    assert (bar.exchange, bar.symbol, bar.interval) == ("binance", "BNBBTC", "1m")


def test_trade_event_side_is_the_aggressor() -> None:
    event = {
        "e": "trade",
        "E": 1672515782136,
        "s": "BNBBTC",
        "t": 12345,
        "p": "42000.01000000",
        "q": "100.00000000",
        "T": 1672515782136,
        "m": True,
        "M": True,
    }
    tick = parse_trade_event(event)
    assert tick.price == Decimal("42000.01")
    assert tick.size == Decimal(100)
    assert tick.trade_id == "12345"
    assert tick.source == "trade"
    assert tick.side == "sell"  # buyer was the maker, so the seller crossed
    assert tick.timestamp == datetime(2022, 12, 31, 19, 43, 2, 136000, tzinfo=UTC)
    assert parse_trade_event({**event, "m": False}).side == "buy"


def test_rest_trade_matches_stream_trade() -> None:
    row = {
        "id": 28457,
        "price": "4.00000100",
        "qty": "12.00000000",
        "quoteQty": "48.000012",
        "time": 1499865549590,
        "isBuyerMaker": True,
        "isBestMatch": True,
    }
    tick = parse_rest_trade(row, "BNBBTC")
    assert (tick.trade_id, tick.price, tick.size, tick.side) == (
        "28457",
        Decimal("4.000001"),
        Decimal(12),
        "sell",
    )
    assert tick.timestamp == from_ms(1499865549590)


def test_milliseconds_round_trip_without_float_error() -> None:
    for value in (0, 1, 1499865549590, 1795606311962, 253402300799999):
        assert to_ms(from_ms(value)) == value


def test_server_shutdown_notice_in_any_wrapping() -> None:
    notice = {"e": "serverShutdown", "E": 1}
    assert is_server_shutdown(notice)
    assert is_server_shutdown({"stream": "x", "data": notice})
    assert is_server_shutdown({"event": notice})
    assert not is_server_shutdown({"e": "trade"})
    assert not is_server_shutdown("serverShutdown")


def test_rate_limits_are_learned_not_assumed() -> None:
    info = {
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ]
    }
    windows = parse_rate_limits(info)
    assert [(w.seconds, w.limit, w.header) for w in windows] == [
        (60.0, 6000, "x-mbx-used-weight-1m"),
        (10.0, 300, "x-mbx-used-weight-10s"),
    ]


def test_headers_are_read_case_insensitively() -> None:
    headers = {"X-MBX-USED-WEIGHT-1M": "42", "Retry-After": "7", "Content-Type": "x"}
    assert used_weights(headers) == {"x-mbx-used-weight-1m": 42}
    assert parse_retry_after(headers) == 7.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after(None) is None
