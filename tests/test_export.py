"""`mdtool export`: exact decimals, UTC timestamps, chunked reads, CSV and Parquet, atomic files."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from mdtool.errors import UsageError
from mdtool.export import ExportRequest, run_export
from mdtool.records import Bar, Tick
from mdtool.storage.export import export_query, read_chunks
from mdtool.storage.writer import write_bars, write_ticks

T0 = datetime(2025, 3, 3, tzinfo=UTC)
PRICES = ["42000.01", "0.00000001", "1234567890123456789012345.5", "100", "1E-30"]


def fill(engine: Engine) -> None:
    write_bars(
        engine,
        [
            Bar("binance", "BTCUSDT", "1m", T0 + timedelta(minutes=i), Decimal(p), Decimal(p), Decimal(p),
                Decimal(p), Decimal("1.5"), None if i % 2 else Decimal("63000.015"), i or None)
            for i, p in enumerate(PRICES)
        ],
    )  # fmt: skip
    write_ticks(
        engine,
        [
            Tick("binance", "BTCUSDT", T0 + timedelta(microseconds=i * 250), "trade", str(i), Decimal(p),
                 Decimal("0.001"), "buy")
            for i, p in enumerate(PRICES)
        ],
    )  # fmt: skip


def request(tmp_path: Path, interval: str | None, fmt: str, **changes: object) -> ExportRequest:
    values: dict[str, object] = {
        "exchange": "binance", "symbol": "BTCUSDT", "interval": interval, "since": T0,
        "until": T0 + timedelta(hours=1), "format": fmt, "path": tmp_path / f"out.{fmt}",
    }  # fmt: skip
    values.update(changes)
    return ExportRequest(**values)  # type: ignore[arg-type]


def test_csv_bars_are_exact_and_utc(engine: Engine, tmp_path: Path) -> None:
    fill(engine)
    seen: list[int] = []
    written = run_export(engine, request(tmp_path, "1m", "csv"), lambda rows, _at: seen.append(rows))
    assert written == 5 and seen[-1] == 5
    with (tmp_path / "out.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["open"] for row in rows] == ["42000.01", "0.00000001", "1234567890123456789012345.5", "100",
                                             "0.000000000000000000000000000001"]  # fmt: skip
    assert rows[0]["timestamp"] == "2025-03-03T00:00:00.000000Z"
    assert rows[0]["quote_volume"] == "63000.015" and rows[1]["quote_volume"] == ""
    assert rows[1]["trade_count"] == "1"
    assert not list(tmp_path.glob(".*partial"))


def test_parquet_ticks_keep_decimals_as_exact_strings(engine: Engine, tmp_path: Path) -> None:
    fill(engine)
    assert run_export(engine, request(tmp_path, None, "parquet")) == 5
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.schema.field("price").type == pa.string()
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert [Decimal(v) for v in table.column("price").to_pylist()] == [Decimal(p) for p in PRICES]
    stamps = table.column("timestamp").to_pylist()
    assert stamps[1] == T0 + timedelta(microseconds=250)
    assert table.column("trade_id").to_pylist() == ["0", "1", "2", "3", "4"]


def test_reads_are_chunked(engine: Engine) -> None:
    fill(engine)
    _columns, query = export_query("binance", "BTCUSDT", None, T0, T0 + timedelta(hours=1))
    assert [len(chunk) for chunk in read_chunks(engine, query, chunk=2)] == [2, 2, 1]


def test_bad_requests_are_usage_errors(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--format must be csv or parquet"):
        run_export(engine, request(tmp_path, "1m", "xlsx"))
    with pytest.raises(UsageError, match="--until must be later"):
        run_export(engine, request(tmp_path, "1m", "csv", until=T0))
    with pytest.raises(UsageError, match="unknown interval"):
        run_export(engine, request(tmp_path, "7m", "csv"))


def test_the_command_writes_the_file_and_says_how_many_rows(sqlite_url: str, tmp_path: Path) -> None:
    from mdtool.storage.engine import create_engine

    engine = create_engine(sqlite_url)
    fill(engine)
    engine.dispose()
    env = {**os.environ, "MARKET_DATA_DATABASE_URL": sqlite_url}
    out = tmp_path / "bars.parquet"
    result = subprocess.run(
        [sys.executable, "-m", "mdtool", "export", "binance", "btcusdt", "1m", "--since", "2025-03-03",
         "--until", "2025-03-04", "--format", "parquet", "-o", str(out)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"5 rows written to {out} (parquet)"
    assert pq.read_table(out).num_rows == 5
    bad = subprocess.run(
        [sys.executable, "-m", "mdtool", "export", "binance", "BTCUSDT", "1m", "--since", "soon", "-o", str(out)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("error: --since:")
