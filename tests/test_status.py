"""`mdtool status`: one row per series with range, rows, holes and age, on TimescaleDB and SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, insert

from mdtool.records import Bar, Tick
from mdtool.storage.empty_ranges import record_empty_ranges
from mdtool.storage.inventory import inventory, stale
from mdtool.storage.schema import stream_holes
from mdtool.storage.writer import write_bars, write_ticks

T0 = datetime(2025, 3, 3, tzinfo=UTC)


def bar(minute: int, symbol: str = "BTCUSDT") -> Bar:
    price = Decimal("100.5")
    return Bar(
        "binance", symbol, "1m", T0 + timedelta(minutes=minute), price, price, price, price, Decimal(1)
    )


def tick(trade_id: int, source: str = "trade", symbol: str = "BTCUSDT") -> Tick:
    return Tick(
        "binance", symbol, T0 + timedelta(seconds=trade_id), source, str(trade_id), Decimal("42000.01")
    )


def fill(engine: Engine) -> None:
    # 60 one-minute slots, 10..19 missing (a hole), 30..39 missing but known empty.
    write_bars(engine, [bar(m) for m in range(60) if not 10 <= m < 20 and not 30 <= m < 40])
    record_empty_ranges(
        engine, "binance", "BTCUSDT", "1m", [(T0 + timedelta(minutes=30), T0 + timedelta(minutes=40))]
    )
    # trade ids 1..100 with 41..45 missing; an aggTrade-like feed whose ids are not sequential.
    write_ticks(engine, [tick(i) for i in range(1, 101) if not 41 <= i <= 45])
    write_ticks(engine, [tick(i * 7, "ibkr.AllLast", "AAPL") for i in range(1, 4)])
    with engine.begin() as conn:
        conn.execute(
            insert(stream_holes),
            [
                {"exchange": "binance", "symbol": "BTCUSDT", "source": "trade", "start_time": T0,
                 "end_time": T0 + timedelta(seconds=1), "reason": "refused", "filled_at": None},
                {"exchange": "binance", "symbol": "BTCUSDT", "source": "trade", "start_time": T0 + timedelta(1),
                 "end_time": T0 + timedelta(1, 1), "reason": "refused", "filled_at": T0 + timedelta(2)},
            ],
        )  # fmt: skip


def test_inventory_lists_every_series_with_holes(engine: Engine) -> None:
    fill(engine)
    bars, aapl, btc = inventory(engine)
    assert (bars.kind, bars.exchange, bars.symbol, bars.detail) == ("bars", "binance", "BTCUSDT", "1m")
    assert (bars.first, bars.last) == (T0, T0 + timedelta(minutes=59))
    assert bars.rows_exact, "small series are counted exactly"
    assert bars.rows == 40
    assert bars.holes == 10, "the known-empty span is not a hole"
    assert (aapl.symbol, aapl.detail, aapl.holes) == ("AAPL", "ibkr.AllLast", None)
    assert (btc.detail, btc.first, btc.last) == (
        "trade",
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=100),
    )
    assert btc.open_stream_holes == 1, "a filled stream hole is not counted"
    assert (btc.rows, btc.holes) == (95, 5)
    now = T0 + timedelta(minutes=70)
    assert bars.age(now) == 600.0, "age counts from when the newest bar closed"
    assert stale([bars, aapl, btc], now, 3 * 3600) == []
    assert [item.detail for item in stale([bars, aapl, btc], now, 1200)] == ["ibkr.AllLast", "trade"]


def test_postgres_counts_past_the_budget_are_estimates_from_statistics(pg_url: str) -> None:
    from mdtool.storage.engine import create_engine

    engine = create_engine(pg_url)
    try:
        fill(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE market_data_ohlcv")
            conn.exec_driver_sql("ANALYZE market_data_ticks")
        bars, _aapl, btc = inventory(engine, exact_budget=0)
    finally:
        engine.dispose()
    assert not bars.rows_exact
    assert abs(bars.rows - 40) <= 4, "an estimate from fresh statistics"
    assert bars.holes == 50 - bars.rows, "holes derive from the estimate (so are approximate too)"
    assert abs(btc.rows - 95) <= 10
    assert btc.holes == max(100 - btc.rows, 0)


def run_status(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MARKET_DATA_DATABASE_URL": db_url}
    return subprocess.run(
        [sys.executable, "-m", "mdtool", "status", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_status_json_and_max_age_exit_codes(sqlite_url: str) -> None:
    from mdtool.storage.engine import create_engine

    engine = create_engine(sqlite_url)
    fill(engine)
    write_ticks(engine, [Tick("binance", "ETHUSDT", datetime.now(UTC), "trade", "1", Decimal(1))])
    engine.dispose()
    result = run_status(sqlite_url, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["kind"], r["symbol"]) for r in rows] == [
        ("bars", "BTCUSDT"), ("ticks", "AAPL"), ("ticks", "BTCUSDT"), ("ticks", "ETHUSDT"),
    ]  # fmt: skip
    assert rows[0]["interval"] == "1m" and rows[0]["holes"] == 10 and rows[0]["rows_exact"] is True
    assert rows[2]["source"] == "trade" and rows[2]["open_stream_holes"] == 1
    late = run_status(sqlite_url, "--max-age", "1h")
    assert late.returncode == 1
    assert late.stderr.startswith("error: 3 series older than 1h: binance BTCUSDT 1m")
    assert len(late.stderr.strip().splitlines()) == 1
    table = run_status(sqlite_url)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split("\t") == [
        "exchange",
        "symbol",
        "interval/source",
        "first",
        "last",
        "rows",
        "holes",
        "age",
    ]
    assert lines[1].split("\t")[:3] == ["binance", "BTCUSDT", "1m"]
    assert lines[1].split("\t")[5:7] == ["40", "10"]
    assert lines[3].split("\t")[6] == "5 +1 stream"
    bad = run_status(sqlite_url, "--max-age", "soon")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --max-age:")


def test_status_of_an_empty_database(sqlite_url: str) -> None:
    result = run_status(sqlite_url)
    assert result.returncode == 0 and "nothing stored yet" in result.stdout
    assert run_status(sqlite_url, "--max-age", "10m").returncode == 1


def test_status_on_a_fresh_embedded_database_says_nothing_is_stored(tmp_path: Path) -> None:
    """The embedded default is migrated on first use by every command, `status` included (it once
    answered a new user with `no such table`)."""
    result = run_status(f"sqlite:///{tmp_path / 'new.db'}")
    assert result.returncode == 0, result.stderr
    assert "nothing stored yet" in result.stdout
