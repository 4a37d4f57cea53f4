from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from mdtool.records import Bar, Tick
from mdtool.storage.queries import (
    missing_ranges,
    newest_bar_time,
    newest_numeric_trade_id,
)
from mdtool.storage.writer import write_bars, write_ticks

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def minute(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def store_minutes(engine: Engine, minutes: list[int]) -> None:
    write_bars(engine, [Bar("binance", "BTCUSDT", "1m", minute(i), "1", "1", "1", "1", "1") for i in minutes])


def test_gaps_at_start_middle_and_end(engine: Engine) -> None:
    store_minutes(engine, [2, 3, 4, 7, 8])
    gaps = missing_ranges(engine, "binance", "BTCUSDT", "1m", minute(0), minute(10))
    assert gaps == [(minute(0), minute(2)), (minute(5), minute(7)), (minute(9), minute(10))]


def test_no_gaps_in_a_complete_range_and_whole_range_when_empty(engine: Engine) -> None:
    store_minutes(engine, list(range(10)))
    assert missing_ranges(engine, "binance", "BTCUSDT", "1m", minute(0), minute(10)) == []
    assert missing_ranges(engine, "binance", "ETHUSDT", "1m", minute(0), minute(10)) == [
        (minute(0), minute(10))
    ]
    assert missing_ranges(engine, "binance", "BTCUSDT", "5m", minute(0), minute(10)) == [
        (minute(0), minute(10))
    ]


def test_newest_bar_time(engine: Engine) -> None:
    assert newest_bar_time(engine, "binance", "BTCUSDT", "1m") is None
    store_minutes(engine, [1, 5, 3])
    assert newest_bar_time(engine, "binance", "BTCUSDT", "1m") == minute(5)


def test_newest_numeric_trade_id_compares_numbers_not_text(engine: Engine) -> None:
    write_ticks(engine, [
        Tick("binance", "BTCUSDT", T0, "trade", "9", "1"),
        Tick("binance", "BTCUSDT", T0 + timedelta(milliseconds=1), "trade", "10", "1"),
        Tick("binance", "BTCUSDT", T0 + timedelta(milliseconds=1), "trade", "11", "1"),
    ])  # fmt: skip
    assert newest_numeric_trade_id(engine, "binance", "BTCUSDT", "trade") == 11
    assert newest_numeric_trade_id(engine, "binance", "ETHUSDT", "trade") is None
