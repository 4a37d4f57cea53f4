"""The bulk CSV path on TimescaleDB stores byte for byte what the record path (`write_ticks`) stores."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from mdtool.adapters.binance.archive_csv import read_trades
from mdtool.errors import RejectedDataError
from mdtool.storage.bulk_copy import copy_trade_csv
from mdtool.storage.engine import create_engine
from mdtool.storage.writer import write_ticks
from tests.fakes.binance_archive import zip_bytes

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)
ROWS = [
    "101,42000.01000000,0.00100000,42.00001000,1735689599998,True,True",
    "102,100.00000000,1.00000000,100.00000000,1735689599998,False,True",
    "103,0.00000001,12345678.90000000,0.12345679,1735689599999,true,True",
    "104,42000.00000000,0.10000000,4200.00000000,1735689600000123,False,True",  # microseconds
    "105,7.50000000,2.00000000,15.00000000,1735689600000999,FALSE,True",
    "106,0.10000000,0.00000000,0.00000000,1735689600001000,TRUE,False",
]
COLUMNS = "exchange, timestamp, source, trade_id, price::text, size::text, side, payload::text"


def rows(url: str, symbol: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        query = f"SELECT {COLUMNS} FROM market_data_ticks WHERE symbol = :s ORDER BY trade_id"
        found = [tuple(r) for r in conn.execute(text(query), {"s": symbol})]
    engine.dispose()
    return found


@pytest.mark.parametrize("header", [False, True])
def test_bulk_rows_equal_record_rows(pg_url: str, tmp_path: Path, header: bool) -> None:
    content = "\n".join(
        (["id,price,qty,quote_qty,time,is_buyer_maker,is_best_match"] if header else []) + ROWS
    )
    path = tmp_path / "t.zip"
    path.write_bytes(zip_bytes("t.csv", [content]))
    engine = create_engine(pg_url)
    staged, stored = copy_trade_csv(
        engine, io.BytesIO(content.encode() + b"\n"), header=header, exchange="binance", symbol="BULK",
        source="trade", since=T0 - timedelta(days=1), until=T0 + timedelta(days=1),
    )  # fmt: skip
    assert (staged, stored) == (6, 6)
    ticks = [t for page in read_trades(path, "t.zip", "RECORDS") for t in page]
    assert write_ticks(engine, ticks) == 6
    engine.dispose()
    assert rows(pg_url, "BULK") == rows(pg_url, "RECORDS")
    assert rows(pg_url, "BULK")[1][4:7] == ("100", "1", "buy")


def test_bulk_import_is_idempotent_and_honours_since(pg_url: str) -> None:
    content = ("\n".join(ROWS) + "\n").encode()
    engine = create_engine(pg_url)
    since = datetime(2025, 1, 1, tzinfo=UTC)
    common = {
        "header": False,
        "exchange": "binance",
        "symbol": "BTCUSDT",
        "source": "trade",
        "until": T0 + timedelta(days=1),
    }
    assert copy_trade_csv(engine, io.BytesIO(content), since=since, **common) == (6, 3)  # type: ignore[arg-type]
    assert copy_trade_csv(engine, io.BytesIO(content), since=T0, **common) == (6, 3)  # type: ignore[arg-type]
    assert copy_trade_csv(engine, io.BytesIO(content), since=T0, **common) == (6, 0)  # type: ignore[arg-type]
    engine.dispose()


def test_a_bad_row_stores_nothing_of_the_file(pg_url: str) -> None:
    content = ("\n".join([*ROWS[:2], "107,1.0,1.0,1.0,1735689600000,maybe,True"]) + "\n").encode()
    engine = create_engine(pg_url)
    with pytest.raises(RejectedDataError):
        copy_trade_csv(
            engine, io.BytesIO(content), header=False, exchange="binance", symbol="BAD", source="trade",
            since=T0 - timedelta(days=1), until=T0 + timedelta(days=1),
        )  # fmt: skip
    engine.dispose()
    assert rows(pg_url, "BAD") == []


def test_a_collision_in_an_empty_span_falls_back_to_ignoring_duplicates(pg_url: str) -> None:
    content = ("\n".join([*ROWS, ROWS[0]]) + "\n").encode()  # the same trade twice in one file
    engine = create_engine(pg_url)
    imported = copy_trade_csv(
        engine, io.BytesIO(content), header=False, exchange="binance", symbol="TWICE", source="trade",
        since=T0 - timedelta(days=1), until=T0 + timedelta(days=1),
    )  # fmt: skip
    engine.dispose()
    assert imported == (7, 6)
    assert len(rows(pg_url, "TWICE")) == 6


def bar_rows(url: str, symbol: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    columns = "exchange, interval, timestamp, open::text, high::text, low::text, close::text, volume::text, quote_volume::text, trade_count"
    with engine.connect() as conn:
        query = f"SELECT {columns} FROM market_data_ohlcv WHERE symbol = :s ORDER BY timestamp"
        found = [tuple(r) for r in conn.execute(text(query), {"s": symbol})]
    engine.dispose()
    return found


def test_bulk_bars_equal_record_bars_and_corrections_replace_them(pg_url: str, tmp_path: Path) -> None:
    from mdtool.adapters.binance.archive_csv import read_klines
    from mdtool.storage.bulk_copy import copy_kline_csv
    from mdtool.storage.writer import write_bars
    from tests.fakes.binance_archive import kline_csv

    start_ms = 1735689480000  # 2024-12-31 23:58: two bars in milliseconds, then microseconds
    lines = [kline_csv(start_ms + i * 60_000, 60_000, i >= 2) for i in range(5)]
    content = ("open_time,open\n" + "\n".join(lines) + "\n").encode()
    path = tmp_path / "k.zip"
    path.write_bytes(zip_bytes("k.csv", ["open_time,open", *lines]))
    since = datetime(2024, 12, 31, 23, 59, tzinfo=UTC)
    until = since + timedelta(minutes=3)
    engine = create_engine(pg_url)
    common = {"header": True, "exchange": "binance", "interval": "1m", "since": since, "until": until}
    opens, stored = copy_kline_csv(engine, io.BytesIO(content), symbol="BULK", **common)  # type: ignore[arg-type]
    assert opens == [since + timedelta(minutes=i) for i in range(3)] and stored == 3
    bars = [
        b
        for page in read_klines(path, "k.zip", "RECORDS", "1m")
        for b in page
        if since <= b.timestamp < until
    ]
    assert write_bars(engine, bars) == 3
    assert bar_rows(pg_url, "BULK") == bar_rows(pg_url, "RECORDS")
    assert copy_kline_csv(engine, io.BytesIO(content), symbol="BULK", **common)[1] == 0  # type: ignore[arg-type]
    corrected = content.replace(b",1.00000000,", b",2.00000000,").replace(b".01000000,", b".02000000,")
    assert copy_kline_csv(engine, io.BytesIO(corrected), symbol="BULK", **common)[1] == 3  # type: ignore[arg-type]
    engine.dispose()
    assert bar_rows(pg_url, "BULK") != bar_rows(pg_url, "RECORDS")
