"""Binance public data archive into TimescaleDB, end to end, against ceilings measured in the same run.

    .venv/bin/python bench/archive.py [--trades 2000000] [--days 5] [--latency 0.0]
                                      [--skip-trades] [--skip-klines] [--database-url postgresql://...]

(a) trades: `--trades` trades in `--days` daily zips (microsecond timestamps, as 2025+ files) served
    by a local HTTP server in another process; `run_trades_backfill --via archive` downloads, checks the
    SHA-256, unzips, parses (PostgreSQL's COPY CSV parser) and stores them. Ceiling: a plain COPY of the
    very same rows, already rendered in the table's text format, into an empty `market_data_ticks`.
    Prints both rates and the ratio (target >= 0.8).
(b) klines: one year (2025) of 1m bars, 525,600, through the shared backfill driver: from 12 monthly
    archive zips (`ArchiveBarSource --via archive`) and from REST klines (`BinanceBarSource`), both
    against the same fake process, REST paced by Binance's request-weight limit (6000 per minute,
    klines weight 2, as learned from exchangeInfo) and one request in flight, the archive by nothing.
    `--latency` adds the same delay before every answer of both (a network round trip). Prints both
    times and the ratio (target >= 5).

Each measurement writes into its own fresh database. Without `--database-url` a throw-away TimescaleDB
cluster is started (tests/pg_cluster.py). Not a test: no asserts.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path (see bench/binance.py).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import psycopg  # noqa: E402 - after the sys.path fix above
from tests.fakes.binance_archive import kline_csv, klines_path, trades_path, zip_bytes  # noqa: E402
from tests.pg_cluster import PostgresCluster  # noqa: E402

from mdtool.adapters.binance import (  # noqa: E402
    ArchiveBarSource,
    ArchiveClient,
    BinanceBarSource,
    BinanceRest,
    BinanceTradeHistory,
    Via,
)
from mdtool.backfill import BackfillRequest, run_backfill  # noqa: E402
from mdtool.migrate import upgrade  # noqa: E402
from mdtool.storage.engine import create_engine  # noqa: E402
from mdtool.trades_backfill import TradesRequest, run_trades_backfill  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
YEAR = datetime(2025, 1, 1, tzinfo=UTC)


def write_trades(directory: Path, total: int, days: int) -> tuple[datetime, list[str]]:
    """Daily trade zips for the `days` days before today; returns the first day and the COPY rows."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=days)
    per_day = total // days
    rendered: list[str] = []
    trade_id = 1
    for n in range(days):
        day = first + timedelta(days=n)
        start_us = (day - EPOCH) // timedelta(microseconds=1)
        step = 86_400_000_000 // per_day
        lines = []
        for i in range(per_day):
            us = start_us + i * step
            price, qty = f"{40000 + trade_id % 997}.{trade_id % 100:02d}", f"0.{trade_id % 999 + 1:03d}"
            maker = trade_id % 2 == 0
            lines.append(f"{trade_id},{price}000000,{qty}00000,1.00000000,{us},{maker},True")
            moment = EPOCH + timedelta(microseconds=us - us % 1000)
            side = "sell" if maker else "buy"
            rendered.append(
                f"binance\tBTCUSDT\t{moment.isoformat()}\ttrade\t{trade_id}\t{price.rstrip('0').rstrip('.')}\t"
                f"{qty.rstrip('0')}\t{side}\t\\N\n"
            )
            trade_id += 1
        path = directory / trades_path("BTCUSDT", day.date(), monthly=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(zip_bytes(path.name.replace(".zip", ".csv"), lines))
    return first, rendered


def write_klines(directory: Path) -> list[str]:
    """Twelve monthly 1m zips for 2025, in microseconds as Binance publishes them; returns the same
    bars rendered as COPY rows of `market_data_ohlcv` (for the ceiling)."""
    rendered = []
    for month in range(1, 13):
        start = datetime(2025, month, 1, tzinfo=UTC)
        end = datetime(2025 + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        first_ms = (start - EPOCH) // timedelta(milliseconds=1)
        count = (end - start) // timedelta(minutes=1)
        lines = [kline_csv(first_ms + i * 60_000, 60_000, True) for i in range(count)]
        for i, line in enumerate(lines):
            cells = line.split(",")
            moment = start + timedelta(minutes=i)
            values = "\t".join(str(Decimal(cell).normalize()) for cell in (*cells[1:6], cells[7]))
            rendered.append(f"binance\tBTCUSDT\t1m\t{moment.isoformat()}\t{values}\t{cells[8]}\n")
        path = directory / klines_path("BTCUSDT", "1m", start.date(), monthly=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(zip_bytes(path.name.replace(".zip", ".csv"), lines))
    return rendered


def start_fakes(directory: Path, latency: float) -> tuple[subprocess.Popen[str], str, str]:
    command = [sys.executable, "-m", "tests.fakes.binance_archive", "--directory", str(directory)]
    proc = subprocess.Popen(
        [*command, "--latency", str(latency)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    archive_url, rest_url = proc.stdout.readline().split()
    return proc, archive_url, rest_url


TICK_COLUMNS = "exchange, symbol, timestamp, source, trade_id, price, size, side, payload"
BAR_COLUMNS = (
    "exchange, symbol, interval, timestamp, open, high, low, close, volume, quote_volume, trade_count"
)


def plain_copy(
    url: str, rows: list[str], table: str = "market_data_ticks", columns: str = TICK_COLUMNS
) -> float:
    """Seconds to COPY the rendered rows into an empty table (the ceiling)."""
    block: list[str] = []
    started = time.perf_counter()
    with (
        psycopg.connect(url.replace("+psycopg", "")) as conn,
        conn.cursor() as cursor,
        cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            block.append(row)
            if len(block) == 20_000:
                copy.write("".join(block))
                block = []
        if block:
            copy.write("".join(block))
    return time.perf_counter() - started


def bench_trades(cluster_db: object, args: argparse.Namespace, directory: Path) -> None:
    first, rendered = write_trades(directory, args.trades, args.days)
    proc, archive_url, rest_url = start_fakes(directory, args.latency)
    try:
        copy_url = cluster_db("bench_trades_copy")  # type: ignore[operator]
        archive_db = cluster_db("bench_trades_archive")  # type: ignore[operator]
        ceiling = plain_copy(copy_url, rendered)
        engine = create_engine(archive_db)
        history = BinanceTradeHistory(BinanceRest(rest_url), ArchiveClient(archive_url))
        started = time.perf_counter()
        try:
            summary = run_trades_backfill(
                engine, history, TradesRequest("BTCUSDT", since=first, via=Via.archive)
            )
        finally:
            history.close()
        elapsed = time.perf_counter() - started
        engine.dispose()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    rows = len(rendered)
    print(f"(a) trades: {summary.line()}")
    print(f"    plain COPY of the same {rows:,} rows: {ceiling:.2f} s = {rows / ceiling:,.0f} rows/s")
    print(f"    archive end to end:               {elapsed:.2f} s = {summary.stored / elapsed:,.0f} rows/s")
    print(f"    ratio archive / plain COPY: {ceiling / elapsed:.2f} (target >= 0.8)")


def bench_klines(cluster_db: object, args: argparse.Namespace, directory: Path) -> None:
    rendered = write_klines(directory)
    proc, archive_url, rest_url = start_fakes(directory, args.latency)
    request = BackfillRequest("BTCUSDT", "1m", since=YEAR, until=datetime(2026, 1, 1, tzinfo=UTC))
    try:
        timings = {
            "copy": plain_copy(cluster_db("bench_klines_copy"), rendered, "market_data_ohlcv", BAR_COLUMNS)
        }  # type: ignore[operator]
        for name in ("archive", "rest"):
            engine = create_engine(cluster_db(f"bench_klines_{name}"))  # type: ignore[operator]
            rest = BinanceBarSource(BinanceRest(rest_url))
            source = (
                rest if name == "rest" else ArchiveBarSource(rest, ArchiveClient(archive_url), Via.archive)
            )
            started = time.perf_counter()
            try:
                summary = run_backfill(engine, source, request)
            finally:
                source.close()
            timings[name] = time.perf_counter() - started
            engine.dispose()
            print(f"(b) klines via {name}: {summary.line()}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(
        f"    one year of 1m bars: archive {timings['archive']:.1f} s, REST {timings['rest']:.1f} s "
        f"(latency {args.latency * 1000:.0f} ms per answer): archive is {timings['rest'] / timings['archive']:.1f}x "
        "faster (target >= 5)"
    )
    print(
        f"    plain COPY of the same {len(rendered):,} bars: {timings['copy']:.1f} s "
        f"(archive / plain COPY: {timings['copy'] / timings['archive']:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trades", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds before every answer (both sources)"
    )
    parser.add_argument("--database-url", help="a PostgreSQL server URL whose user may create databases")
    parser.add_argument("--skip-trades", action="store_true")
    parser.add_argument("--skip-klines", action="store_true")
    args = parser.parse_args()
    cluster = None if args.database_url else PostgresCluster()

    def fresh(name: str) -> str:
        if cluster is not None:
            url = cluster.create_database(name)
        else:
            base = args.database_url.rsplit("/", 1)[0]
            with psycopg.connect(args.database_url.replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")
                conn.execute(f"CREATE DATABASE {name}")
            url = f"{base}/{name}"
        upgrade(url)
        return url

    try:
        with tempfile.TemporaryDirectory(prefix="mdtool-bench-archive-") as work:
            if not args.skip_trades:
                bench_trades(fresh, args, Path(work) / "trades")
            if not args.skip_klines:
                bench_klines(fresh, args, Path(work) / "klines")
    finally:
        if cluster is not None:
            cluster.destroy()


if __name__ == "__main__":
    main()
