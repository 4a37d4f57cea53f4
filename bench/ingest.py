"""Ingest throughput: is the writer close to its ceiling, on TimescaleDB and on SQLite?

    .venv/bin/python bench/ingest.py [--rows 200000] [--batch 10000] [--sqlite-only]

TimescaleDB: (a) plain COPY of N ticks into an empty copy of the ticks hypertable: the ceiling;
(b) `write_ticks` with fresh rows, in batches; (c) a `RecordWriter` where every batch is 50 % rows that
are already stored. Ratios are to (a).
SQLite (WAL, synchronous=NORMAL, as `create_engine` sets it): (d) plain `sqlite3` `executemany` of the
same tick rows, already as text, into the same schema, one commit per batch: the ceiling; (e)
`write_ticks` of the same ticks (records in, conversion included); (f) plain `sqlite3` upsert of N bars
(insert, or update where a value differs); (g) `write_bars` of the same bars. Ratios are (e)/(d) and
(g)/(f), by wall time and by this process's CPU seconds (SQLite runs in-process); each SQLite
figure is the best of `--rounds` alternating runs. The writer sends 100 rows to a statement
(`storage/sqlite_writes.py`), which SQLite runs for less than `executemany` of one-row statements,
so (d+) and (f+) also time the plain driver doing the same with ready rows: the writer's ratio to
them is the cost of turning records into text. Not a test: no asserts.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine
from tests.pg_cluster import PostgresCluster

from mdtool.migrate import upgrade
from mdtool.records import Bar, Tick
from mdtool.storage.engine import create_engine
from mdtool.storage.sqlite_writes import (
    BAR_UPSERT,
    ROWS_PER_STATEMENT,
    TICK_INSERT,
    bar_rows,
    tick_rows,
)
from mdtool.storage.writer import TICK_COLUMNS, RecordWriter, _tick_row, write_bars, write_ticks

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T = TypeVar("T")


def make_ticks(count: int, offset: int = 0) -> list[Tick]:
    return [
        Tick("binance", "BTCUSDT", T0 + timedelta(microseconds=(offset + i) * 250), "trade",
             str(offset + i), f"42000.{(offset + i) % 100:02d}", "0.0015", "buy" if i % 2 else "sell")
        for i in range(count)
    ]  # fmt: skip


def make_bars(count: int) -> list[Bar]:
    return [
        Bar("binance", "BTCUSDT", "1m", T0 + timedelta(minutes=i), f"42000.{i % 100:02d}000000",
            f"42100.{i % 100:02d}000000", f"41900.{i % 97:02d}000000", f"42050.{i % 89:02d}000000",
            f"{i % 1000}.12345678", f"{i * 42}.5", 10 + i % 90)
        for i in range(count)
    ]  # fmt: skip


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def cpu_timed(action: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process): SQLite runs in-process, so its CPU time counts
    everything, and it drifts less than wall time on a shared machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def batches(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


Result = tuple[str, float, float]
"""(case, rows/s, ratio to its ceiling)."""


def bench_postgres(rows: list[Tick], size: int) -> list[Result]:
    cluster = PostgresCluster()
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

        ceiling = len(rows) / timed(plain_copy)

        def fresh() -> None:
            for batch in batches(rows, size):
                write_ticks(engine, batch)

        fresh_rate = len(rows) / timed(fresh)
        more = make_ticks(len(rows), offset=len(rows))
        half = size // 2
        mixed = [rows[i : i + half] + more[i : i + half] for i in range(0, len(rows), half)]
        writer = RecordWriter(engine)  # as the batching writer holds one: it learns that batches collide

        def half_duplicates() -> None:
            for batch in mixed:
                writer.write_ticks(batch)

        mixed_rate = len(rows) * 2 / timed(half_duplicates)
        engine.dispose()
    finally:
        cluster.destroy()
    return [
        ("(a) plain COPY into a hypertable", ceiling, 1.0),
        (f"(b) write_ticks, fresh rows, batches of {size}", fresh_rate, fresh_rate / ceiling),
        ("(c) RecordWriter, batches 50 % duplicates", mixed_rate, mixed_rate / ceiling),
    ]


def plain_sqlite(path: str, statement: str, rows: list[tuple[Any, ...]], size: int) -> tuple[float, float]:
    """Seconds the bare driver takes: `executemany` of ready-made rows, one commit per batch."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")

    def run() -> None:
        for batch in batches(rows, size):
            with connection:
                connection.executemany(statement, batch)

    seconds = cpu_timed(run)
    connection.close()
    return seconds


def plain_sqlite_multirow(
    path: str, statement: str, rows: list[tuple[Any, ...]], size: int
) -> tuple[float, float]:
    """Seconds the bare driver takes sending `ROWS_PER_STATEMENT` ready-made rows to a statement
    (flat values prepared outside the clock), one commit per batch."""
    head, conflict = statement.split(" VALUES ")
    one_row, conflict = conflict.split(") ", 1)
    many = f"{head} VALUES {', '.join([one_row + ')'] * ROWS_PER_STATEMENT)} {conflict}"
    prepared = [
        [
            [value for row in batch[i : i + ROWS_PER_STATEMENT] for value in row]
            for i in range(0, len(batch) - ROWS_PER_STATEMENT + 1, ROWS_PER_STATEMENT)
        ]
        for batch in batches(rows, size)
    ]
    assert all(len(batch) % ROWS_PER_STATEMENT == 0 for batch in batches(rows, size))
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")

    def run() -> None:
        for statements in prepared:
            with connection:
                for values in statements:
                    connection.execute(many, values)

    seconds = cpu_timed(run)
    connection.close()
    return seconds


def writer_sqlite(
    path: str, write: Callable[[Engine, list[T]], int], items: list[T], size: int
) -> tuple[float, float]:
    """Seconds `write_ticks`/`write_bars` take for the same records, batch by batch. The engine's
    connection is opened (and its PRAGMAs run) before the clock starts, as the plain side's is."""
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect():
        pass

    def run() -> None:
        for batch in batches(items, size):
            write(engine, batch)

    seconds = cpu_timed(run)
    engine.dispose()
    return seconds


def bench_sqlite(ticks: list[Tick], bars: list[Bar], size: int, rounds: int) -> list[Result]:
    """Best of `rounds`, plain and writer alternating, each into a fresh copy of a migrated file:
    the machine's load drifts, and alternating keeps both sides under the same drift."""
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        template = f"{folder}/template.db"
        upgrade(f"sqlite:///{template}")
        cases: list[tuple[str, Callable[[str], tuple[float, float]]]] = [
            ("plain ticks", lambda path: plain_sqlite(path, TICK_INSERT, list(tick_rows(ticks)), size)),
            ("writer ticks", lambda path: writer_sqlite(path, write_ticks, ticks, size)),
            ("plain bars", lambda path: plain_sqlite(path, BAR_UPSERT, list(bar_rows(bars)), size)),
            ("writer bars", lambda path: writer_sqlite(path, write_bars, bars, size)),
            (
                "multirow ticks",
                lambda path: plain_sqlite_multirow(path, TICK_INSERT, list(tick_rows(ticks)), size),
            ),
            (
                "multirow bars",
                lambda path: plain_sqlite_multirow(path, BAR_UPSERT, list(bar_rows(bars)), size),
            ),
        ]
        for round_ in range(rounds):
            for name, case in cases:
                path = f"{folder}/{name.replace(' ', '_')}_{round_}.db"
                shutil.copyfile(template, path)
                seconds, cpu_seconds = case(path)
                wall[name] = min(wall.get(name, float("inf")), seconds)
                cpu[name] = min(cpu.get(name, float("inf")), cpu_seconds)
    rate = {name: (len(ticks) if "ticks" in name else len(bars)) / seconds for name, seconds in wall.items()}
    return [
        (f"(d) plain sqlite3 executemany, ticks, batches of {size}", rate["plain ticks"], 1.0),
        (
            "(e) SQLite write_ticks, same ticks",
            rate["writer ticks"],
            rate["writer ticks"] / rate["plain ticks"],
        ),
        (
            "    same, by CPU seconds",
            cpu["plain ticks"] / cpu["writer ticks"],
            cpu["plain ticks"] / cpu["writer ticks"],
        ),
        ("(f) plain sqlite3 upsert, bars", rate["plain bars"], 1.0),
        ("(g) SQLite write_bars, same bars", rate["writer bars"], rate["writer bars"] / rate["plain bars"]),
        (
            "    same, by CPU seconds",
            cpu["plain bars"] / cpu["writer bars"],
            cpu["plain bars"] / cpu["writer bars"],
        ),
        (
            f"(d+) plain sqlite3, ticks, {ROWS_PER_STATEMENT} rows a statement",
            rate["multirow ticks"],
            rate["writer ticks"] / rate["multirow ticks"],
        ),
        (
            f"(f+) plain sqlite3, bars, {ROWS_PER_STATEMENT} rows a statement",
            rate["multirow bars"],
            rate["writer bars"] / rate["multirow bars"],
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--sqlite-only", action="store_true", help="skip the TimescaleDB cases")
    parser.add_argument("--rounds", type=int, default=3, help="SQLite: best of this many runs")
    args = parser.parse_args()
    ticks = make_ticks(args.rows)
    results = [] if args.sqlite_only else bench_postgres(ticks, args.batch)
    results += bench_sqlite(ticks, make_bars(args.rows), args.batch, args.rounds)
    print(f"{'case':<52} {'rows/s':>12} {'ratio':>7}")
    for name, rate, ratio in results:
        figure = f"{rate:>12,.0f}" if "CPU" not in name else " " * 12
        print(f"{name:<52} {figure} {ratio:>7.2f}")
    print("ratio: to the ceiling just above it (plain COPY, plain sqlite3), measured in the same run;")
    print("(d+)/(f+): the ratio is the writer's rate, (e) or (g), to that line's")


if __name__ == "__main__":
    main()
