"""Tick ingest throughput on TimescaleDB (and SQLite): is the writer close to plain COPY?

    .venv/bin/python bench/ingest.py [--rows 200000] [--batch 5000]

(a) plain COPY of N rows into an empty copy of the ticks hypertable: the ceiling;
(b) `write_ticks` with fresh rows, in batches; (c) `write_ticks` where every batch is 50 % rows that are
already stored; (d) SQLite with fresh rows. Prints rows/s and the ratio to (a). Not a test: no asserts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.pg_cluster import PostgresCluster

from mdtool.migrate import upgrade
from mdtool.records import Tick
from mdtool.storage.engine import create_engine
from mdtool.storage.writer import TICK_COLUMNS, _tick_row, write_ticks

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_ticks(count: int, offset: int = 0) -> list[Tick]:
    return [
        Tick("binance", "BTCUSDT", T0 + timedelta(microseconds=(offset + i) * 250), "trade",
             str(offset + i), f"42000.{(offset + i) % 100:02d}", "0.0015", "buy" if i % 2 else "sell")
        for i in range(count)
    ]  # fmt: skip


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def batches(items: list[Tick], size: int) -> list[list[Tick]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()
    rows = make_ticks(args.rows)
    cluster = PostgresCluster()
    results: list[tuple[str, float]] = []
    try:
        url = cluster.create_database("bench")
        upgrade(url)
        engine = create_engine(url)
        raw_rows = [_tick_row(t) for t in rows]
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE copy_baseline (LIKE market_data_ticks INCLUDING ALL)")
            conn.exec_driver_sql(
                "SELECT create_hypertable('copy_baseline', 'timestamp', "
                "chunk_time_interval => interval '1 day')"
            )

        def plain_copy() -> None:
            with engine.begin() as conn:
                raw = conn.connection.driver_connection
                columns = ", ".join(f'"{c}"' for c in TICK_COLUMNS)
                with raw.cursor() as cur, cur.copy(f"COPY copy_baseline ({columns}) FROM STDIN") as copy:  # type: ignore[union-attr]
                    for row in raw_rows:
                        copy.write_row(row)

        results.append(("(a) plain COPY into a hypertable", args.rows / timed(plain_copy)))

        def fresh() -> None:
            for batch in batches(rows, args.batch):
                write_ticks(engine, batch)

        results.append((f"(b) writer, fresh rows, batches of {args.batch}", args.rows / timed(fresh)))

        more = make_ticks(args.rows, offset=args.rows)
        half = args.batch // 2
        mixed: list[list[Tick]] = []
        for i in range(0, args.rows, half):
            mixed.append(rows[i : i + half] + more[i : i + half])

        def half_duplicates() -> None:
            for batch in mixed:
                write_ticks(engine, batch)

        results.append(("(c) writer, batches 50 % duplicates", args.rows * 2 / timed(half_duplicates)))
        engine.dispose()
    finally:
        cluster.destroy()

    with tempfile.TemporaryDirectory() as folder:
        sqlite_url = f"sqlite:///{folder}/bench.db"
        upgrade(sqlite_url)
        sqlite = create_engine(sqlite_url)

        def sqlite_fresh() -> None:
            for batch in batches(rows, args.batch):
                write_ticks(sqlite, batch)

        results.append(("(d) SQLite writer, fresh rows", args.rows / timed(sqlite_fresh)))
        sqlite.dispose()

    baseline = results[0][1]
    print(f"{'case':<46} {'rows/s':>12} {'vs (a)':>8}")
    for name, rate in results:
        print(f"{name:<46} {rate:>12,.0f} {rate / baseline:>8.2f}")


if __name__ == "__main__":
    main()
