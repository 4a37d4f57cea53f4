"""Instructions per record, counted by valgrind: the speed figure that does not drift with the machine.

    .venv/bin/python bench/instructions.py [--cases backfill,sqlite] [--days 2,12] [--rows 20000]

Wall-clock figures on a shared machine move by 30 % and more between minutes; the number of
instructions a workload executes does not. Each case runs twice under `valgrind --tool=callgrind` and
the difference, divided by the records it covers, is the cost per record with start-up (imports, a
throw-away TimescaleDB cluster, migrations, making the records) taken out: the backfill at a short and
a long range, the SQLite writes with and without the write itself. Counted is this Python process,
every thread of it; not PostgreSQL, not the fake venue (own processes).

- backfill: `run_backfill` of 1m Binance bars from the local fake into TimescaleDB, per bar.
- sqlite: `write_ticks` / `write_bars` on SQLite against plain `sqlite3` `executemany` of the same
  rows ready-made (the ceiling `bench/ingest.py` compares with), per row, with the ratio.

Slow (valgrind runs Python about 50 times slower): the defaults take about ten minutes. Needs
valgrind (`apt-get install valgrind`). Not a test: no asserts.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and `bench/binance.py` would shadow
# the binance-connector package; the repository root is needed for `tests.*` and `bench.*`.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

SQLITE_CASES = ("plain ticks", "writer ticks", "plain bars", "writer bars")


def run_backfill_child(days: int) -> None:
    from bench.binance import start_fake
    from tests.pg_cluster import PostgresCluster, free_port

    from mdtool.adapters.binance import BinanceBarSource, BinanceRest
    from mdtool.backfill import BackfillRequest, run_backfill
    from mdtool.migrate import upgrade
    from mdtool.storage.engine import create_engine

    cluster = PostgresCluster()
    try:
        url = cluster.create_database("bench")
        upgrade(url)
        port = free_port()
        fake = start_fake(port, 0)
        try:
            since = datetime(2025, 1, 1, tzinfo=UTC)
            source = BinanceBarSource(BinanceRest(f"http://127.0.0.1:{port}"))
            request = BackfillRequest("BTCUSDT", "1m", since=since, until=since + timedelta(days=days))
            engine = create_engine(url)
            run_backfill(engine, source, request)
            source.close()
            engine.dispose()
        finally:
            fake.terminate()
            fake.wait(timeout=10)
    finally:
        cluster.destroy()


def run_sqlite_child(case: str, rows: int, write_them: bool) -> None:
    """One SQLite case; without `write_them` everything but the write (the run subtracted)."""
    from bench.ingest import batches, make_bars, make_ticks

    from mdtool.migrate import upgrade
    from mdtool.storage.engine import create_engine
    from mdtool.storage.sqlite_writes import BAR_UPSERT, TICK_INSERT, bar_rows, tick_rows
    from mdtool.storage.writer import write_bars, write_ticks

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/bench.db"
        upgrade(f"sqlite:///{path}")
        bars = "bars" in case
        records = make_bars(rows) if bars else make_ticks(rows)
        if case.startswith("plain"):
            ready = list(bar_rows(records) if bars else tick_rows(records))  # type: ignore[arg-type]
            connection = sqlite3.connect(path)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            for batch in batches(ready, 10_000) if write_them else []:
                with connection:
                    connection.executemany(BAR_UPSERT if bars else TICK_INSERT, batch)
            connection.close()
            return
        engine = create_engine(f"sqlite:///{path}")
        with engine.connect():
            pass  # connected and configured in both runs, as the plain side is
        write: Callable[..., int] = write_bars if bars else write_ticks
        for batch in batches(records, 10_000) if write_them else []:
            write(engine, batch)
        engine.dispose()


def counted(arguments: list[str]) -> int:
    """Instructions valgrind counted for this script run with `arguments` (as a child)."""
    finished = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, __file__, "--child", *arguments],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", finished.stderr)
    if found is None:
        raise SystemExit(f"error: valgrind reported no count: {finished.stderr[-500:]}")
    return int(found.group(1))


def per_record(arguments: list[str], short: int, long: int) -> float:
    """Instructions per unit of size between a short and a long run."""
    return (counted([*arguments, str(long)]) - counted([*arguments, str(short)])) / (long - short)


def per_row(case: str, rows: int) -> float:
    """Instructions per row of an SQLite case: the run with the write minus the run without."""
    name = case.replace(" ", "-")
    return (counted([name, str(rows), "write"]) - counted([name, str(rows), "setup"])) / rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default="backfill,sqlite", help="backfill, sqlite or both")
    parser.add_argument("--days", default="2,12", help="backfill: short,long run in days of 1m bars")
    parser.add_argument("--rows", type=int, default=20_000, help="sqlite: rows written")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case, size, *write = args.child
        if case == "backfill":
            run_backfill_child(int(size))
        else:
            run_sqlite_child(case.replace("-", " "), int(size), write == ["write"])
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("error: valgrind is not installed (apt-get install valgrind)")
    cases = args.cases.split(",")
    if "backfill" in cases:
        short, long = (int(d) for d in args.days.split(","))
        bar = per_record(["backfill"], short, long) / 1440
        print(f"backfill, whole mdtool process: {bar:,.0f} instructions per bar")
    if "sqlite" in cases:
        cost = {case: per_row(case, args.rows) for case in SQLITE_CASES}
        for kind in ("ticks", "bars"):
            plain, writer = cost[f"plain {kind}"], cost[f"writer {kind}"]
            print(
                f"sqlite {kind}: writer {writer:,.0f}, plain sqlite3 {plain:,.0f} instructions per row "
                f"(ratio {plain / writer:.2f})"
            )


if __name__ == "__main__":
    main()
