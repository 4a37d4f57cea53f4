"""The SQLite rows: the fast texts equal the exact ones for any value, and driver errors stay one line."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, event

from mdtool.errors import DatabaseError, RejectedDataError
from mdtool.records import Bar, Tick
from mdtool.storage.engine import create_engine
from mdtool.storage.sqlite_text import decimal_text, time_text
from mdtool.storage.sqlite_writes import bar_rows, tick_rows
from mdtool.storage.writer import write_bars, write_ticks

T0 = datetime(2024, 1, 1, tzinfo=UTC)
amounts = st.decimals(allow_nan=False, allow_infinity=False, min_value=0, max_value=10**12, places=12)
prices = st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**9), max_value=10**9, places=12)


@st.composite
def bars(draw: st.DrawFn) -> Bar:
    low, spread = draw(prices), draw(amounts)
    quote = draw(st.none() | amounts)
    return Bar("binance", "BTCUSDT", "1m", T0 + timedelta(microseconds=draw(st.integers(0, 10**12))),
               low + spread, low + spread, low, low, draw(amounts), quote)  # fmt: skip


@given(st.lists(bars(), max_size=20))
def test_bar_rows_hold_the_plain_text_of_every_value(batch: list[Bar]) -> None:
    assert list(bar_rows(batch)) == [
        (b.exchange, b.symbol, b.interval, time_text(b.timestamp), decimal_text(b.open),
         decimal_text(b.high), decimal_text(b.low), decimal_text(b.close), decimal_text(b.volume),
         None if b.quote_volume is None else decimal_text(b.quote_volume), b.trade_count)
        for b in batch
    ]  # fmt: skip


@given(st.lists(st.tuples(prices.filter(lambda p: p > 0), st.none() | amounts), max_size=20))
def test_tick_rows_hold_the_plain_text_of_every_value(values: list[tuple[Decimal, Decimal | None]]) -> None:
    batch = [
        Tick("binance", "BTCUSDT", T0, "trade", str(i), price, size) for i, (price, size) in enumerate(values)
    ]
    rows = list(tick_rows(batch))
    assert [row[5:7] for row in rows] == [
        (decimal_text(t.price), None if t.size is None else decimal_text(t.size)) for t in batch
    ]
    assert all("E" not in text and "e" not in text for row in rows for text in row[5:7] if text is not None)


def test_tiny_values_are_stored_plain_whatever_the_context_capitals(sqlite_url: str) -> None:
    """Below 1e-6 `str()` writes an exponent (`1E-7`, or `1e-7` under `capitals=0`): never stored so."""
    engine = create_engine(sqlite_url)
    bar = Bar(
        "binance", "BTCUSDT", "1m", T0, "0.0000001", "0.0000002", "0.0000001", "0.0000001", "0.00000005"
    )
    tick = Tick("binance", "BTCUSDT", T0, "trade", "1", "0.0000001", "0.000000001")
    with localcontext() as context:
        context.capitals = 0
        assert write_bars(engine, [bar]) == 1
        assert write_ticks(engine, [tick]) == 1
    with engine.connect() as conn:
        stored_bar = conn.exec_driver_sql("SELECT open, high, volume FROM market_data_ohlcv").one()
        stored_tick = conn.exec_driver_sql("SELECT price, size FROM market_data_ticks").one()
    engine.dispose()
    assert tuple(stored_bar) == ("0.0000001", "0.0000002", "0.00000005")
    assert tuple(stored_tick) == ("0.0000001", "0.000000001")


def refuse_price_one(conn: Connection) -> None:
    """Replace the ticks table by one whose CHECK refuses a price of 1: a row the driver rejects."""
    conn.exec_driver_sql("DROP TABLE market_data_ticks")
    conn.exec_driver_sql(
        "CREATE TABLE market_data_ticks (exchange TEXT, symbol TEXT, timestamp TEXT, source TEXT, "
        "trade_id TEXT, price TEXT CHECK (price != '1'), size TEXT, side TEXT, payload TEXT, "
        "ingested_at TEXT, PRIMARY KEY (exchange, symbol, timestamp, source, trade_id))"
    )


def test_driver_errors_become_one_line_database_errors(sqlite_url: str) -> None:
    """Rows go to `sqlite3` directly, so its errors are translated as SQLAlchemy's would have been."""
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        refuse_price_one(conn)
        conn.exec_driver_sql("DROP TABLE market_data_ohlcv")
    with pytest.raises(
        RejectedDataError, match=r"^cannot store 1 ticks: CHECK constraint failed"
    ) as rejected:
        write_ticks(engine, [Tick("binance", "BTCUSDT", T0, "trade", "1", "1")])
    assert isinstance(rejected.value.__cause__.__cause__, sqlite3.IntegrityError)  # type: ignore[union-attr]
    with pytest.raises(DatabaseError, match=r"^cannot store 1 bars: no such table: market_data_ohlcv$"):
        write_bars(engine, [Bar("binance", "BTCUSDT", "1m", T0, "1", "1", "1", "1", "1")])
    assert (
        write_ticks(engine, [Tick("binance", "BTCUSDT", T0, "trade", "2", "2")]) == 1
    )  # rolled back cleanly
    engine.dispose()


def test_statements_stay_within_the_connections_limit_on_bound_values(sqlite_url: str) -> None:
    """SQLite may be built with a low limit on `?` per statement (999 before 3.32): the rows per
    statement shrink to fit it rather than fail with `too many SQL variables`."""
    engine = create_engine(sqlite_url)
    event.listen(
        engine, "connect", lambda driver, _: driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 40)
    )
    bars = [
        Bar("binance", "BTCUSDT", "1m", T0 + timedelta(minutes=i), "1", "2", "1", "2", "3") for i in range(10)
    ]
    ticks = [Tick("binance", "BTCUSDT", T0, "trade", str(i), "1") for i in range(10)]
    assert write_bars(engine, bars) == 10
    assert write_ticks(engine, ticks) == 10
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM market_data_ohlcv").scalar()
    engine.dispose()
    assert stored == 10


def test_a_rejected_row_inside_a_long_statement_stores_nothing_of_the_batch(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        refuse_price_one(conn)
    batch = [Tick("binance", "BTCUSDT", T0, "trade", str(i), "1" if i == 150 else "2") for i in range(250)]
    with pytest.raises(RejectedDataError, match=r"^cannot store 250 ticks: CHECK constraint failed"):
        write_ticks(engine, batch)
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM market_data_ticks").scalar()
    engine.dispose()
    assert stored == 0
