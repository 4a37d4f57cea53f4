"""Binance end to end against the local fake (no rate limit) into TimescaleDB.

    .venv/bin/python bench/binance.py [--days 365] [--workers 1,2] [--pages-in-flight 1]
                                      [--stream-seconds 20] [--trade-rate 20000]
                                      [--database-url postgresql://...]

(a) backfill: one year of 1m bars (525,600) through `run_backfill` with the Binance bar source, so
    paging, parsing, pacing and the COPY writer are all included; once per `--workers` count (one
    process, then the span shared by two, the table emptied between runs; workers fetch one page at a
    time whatever `--pages-in-flight` says); prints bars/s (target >= 50,000) and the CPU per 100k bars
    of mdtool (its worker processes included), the fake and PostgreSQL. Ceilings measured in the same run, first:
    a plain binance-connector loop over the same pages (one request at a time, JSON decoded; its second
    pass, the fake having rendered the year in the first and kept the rows, as it does for the backfill:
    on the real exchange rendering costs Binance's servers, not this machine) and a plain COPY of the
    same rows (text made beforehand, 10,000 per transaction; the table emptied afterwards).
(b) stream: the fake publishes `--trade-rate` trades/s on the combined stream; `BinanceTradeStream`
    feeds a `BatchingWriter`; prints the sustained stored trades/s and the p50/p99 receive-to-commit lag
    (target >= 20,000 trades/s, p99 < 1 s), plus the exchange-time-to-commit lag.

The fake runs in its own process so it does not share our GIL. Without `--database-url` a throw-away
TimescaleDB cluster is started (tests/pg_cluster.py). Not a test: no asserts.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path and `bench/binance.py` would shadow
# the binance-connector package; the repository root is needed for `tests.*`.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import psycopg  # noqa: E402 - after the sys.path fix above
from binance.spot import Spot  # noqa: E402 - after the sys.path fix above
from sqlalchemy import text  # noqa: E402 - after the sys.path fix above
from tests.pg_cluster import PostgresCluster, free_port  # noqa: E402 - after the sys.path fix above

from mdtool.adapters.binance import BinanceBarSource, BinanceRest, BinanceTradeStream, make_bar_source  # noqa: E402 - after the sys.path fix above
from mdtool.adapters.choices import Via  # noqa: E402 - after the sys.path fix above
from mdtool.backfill import BackfillRequest, run_backfill  # noqa: E402 - after the sys.path fix above
from mdtool.backfill_processes import BackfillWorkers  # noqa: E402 - after the sys.path fix above
from mdtool.config import load_settings  # noqa: E402 - after the sys.path fix above
from mdtool.migrate import upgrade  # noqa: E402 - after the sys.path fix above
from mdtool.records import Tick  # noqa: E402 - after the sys.path fix above
from mdtool.sources import StreamStatus  # noqa: E402 - after the sys.path fix above
from mdtool.storage.batching import BatchingWriter  # noqa: E402 - after the sys.path fix above
from mdtool.storage.engine import create_engine  # noqa: E402 - after the sys.path fix above

ROOT = Path(__file__).resolve().parents[1]


def start_fake(port: int, trade_rate: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.binance", "--port", str(port), "--trade-rate", str(trade_rate)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "fake binance on ..." once it listens
    return proc


def children_cpu() -> float:
    """User + system CPU seconds of this process's ended children (the backfill's worker processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), to report load-insensitive costs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu(cluster: PostgresCluster | None) -> float:
    """CPU seconds of a throw-away cluster's server processes so far: the postmaster, its children, and
    the children that have ended (a backend ends with its connection, as a worker process's does)."""
    if cluster is None:
        return 0.0
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if stat.parent.name == str(postmaster):
            total += sum(map(int, fields[11:15])) / os.sysconf("SC_CLK_TCK")  # its own and ended children's
        elif int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def fetch_ceiling(base_url: str, since: datetime, until: datetime) -> tuple[float, list[list[Any]]]:
    """Plain binance-connector: the same pages, one request at a time, JSON decoded, nothing else."""
    spot = Spot(base_url=base_url)
    start, end = int(since.timestamp() * 1000), int(until.timestamp() * 1000)
    rows: list[list[Any]] = []
    started = time.perf_counter()
    while start < end:
        page = spot.klines("BTCUSDT", "1m", startTime=start, endTime=end - 1, limit=1000)
        rows.extend(page)
        start = page[-1][0] + 60_000
    return time.perf_counter() - started, rows


def copy_ceiling(url: str, rows: list[list[Any]], cluster: PostgresCluster) -> tuple[float, float]:
    """Plain COPY of the same bars (text made beforehand), 10,000 rows per transaction as the writer's
    batches, into the empty table of a throw-away cluster, which is emptied again afterwards. Returns the
    seconds and the server's CPU seconds (read before the connection's backend process exits)."""
    lines = [
        f"binance\tBTCUSDT\t1m\t{datetime.fromtimestamp(r[0] // 1000, UTC)}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t"
        f"{r[5]}\t{r[7]}\t{r[8]}\n"
        for r in rows
    ]
    blocks = ["".join(lines[i : i + 10_000]) for i in range(0, len(lines), 10_000)]
    columns = '"exchange", "symbol", "interval", "timestamp", "open", "high", "low", "close", "volume", '
    columns += '"quote_volume", "trade_count"'
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        started, cpu_started = time.perf_counter(), postgres_cpu(cluster)
        for block in blocks:
            with conn.cursor().copy(f'COPY "market_data_ohlcv" ({columns}) FROM STDIN') as copy:
                copy.write(block)
            conn.commit()
        elapsed, cpu = time.perf_counter() - started, postgres_cpu(cluster) - cpu_started
        conn.execute('TRUNCATE "market_data_ohlcv"')  # drops the hypertable's chunks too
    return elapsed, cpu


def bench_backfill(
    url: str, days: int, pages_in_flight: int, workers: list[int], cluster: PostgresCluster | None
) -> None:
    port = free_port()
    fake = start_fake(port, 0)
    base_url = f"http://127.0.0.1:{port}"
    since = datetime(2025, 1, 1, tzinfo=UTC)
    until = since + timedelta(days=days)
    try:
        fake_started = cpu_seconds(fake.pid)
        _, rows = fetch_ceiling(base_url, since, until)  # the fake renders the year (and remembers it)
        render_fake = cpu_seconds(fake.pid) - fake_started
        fake_started = cpu_seconds(fake.pid)
        fetch_elapsed, _ = fetch_ceiling(base_url, since, until)
        fetch_fake = cpu_seconds(fake.pid) - fake_started
        # Never empty a user's table: the COPY ceiling needs the throw-away cluster.
        copy_elapsed, copy_pg = copy_ceiling(url, rows, cluster) if cluster is not None else (0.0, 0.0)
        ceiling_bars = len(rows)
        del rows  # half a million JSON rows kept alive would slow the backfill's garbage collections
        engine = create_engine(url)
        request = BackfillRequest("BTCUSDT", "1m", since=since, until=until)
        settings = load_settings({"MARKET_DATA_DATABASE_URL": url, "BINANCE_BASE_URL": base_url})
        for run, count in enumerate(workers):
            if run and cluster is None:
                print(
                    f"    (--workers {count} skipped: only a throw-away cluster's table is emptied between runs)"
                )
                continue
            if run:
                with engine.begin() as conn:
                    conn.execute(text('TRUNCATE "market_data_ohlcv"'))
            source = BinanceBarSource(BinanceRest(base_url), pages_in_flight=pages_in_flight)
            shared = BackfillWorkers(count, partial(make_bar_source, settings, Via.rest))
            started, cpu_started = time.perf_counter(), time.process_time() + children_cpu()
            fake_started, pg_started = cpu_seconds(fake.pid), postgres_cpu(cluster)
            try:
                summary = run_backfill(engine, source, request, workers=shared)
            finally:
                source.close()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() + children_cpu() - cpu_started
            fake_cpu = cpu_seconds(fake.pid) - fake_started
            pg_cpu = postgres_cpu(cluster) - pg_started
            bars = max(summary.bars_stored, 1)
            rate = summary.bars_stored / elapsed
            fetch_rate = ceiling_bars / fetch_elapsed
            copy_rate = ceiling_bars / copy_elapsed if copy_elapsed else float("nan")
            print(f"(a) backfill, --workers {count}: {summary.line()}")
            print(f"    {summary.bars_stored:,} bars in {elapsed:.1f} s = {rate:,.0f} bars/s")
            print(
                f"    CPU per 100k bars: mdtool {cpu * 100_000 / bars:.2f} s ({cpu / elapsed:.0%} of a core, "
                f"its worker processes included), fake {fake_cpu * 100_000 / bars:.2f} s, "
                f"postgres {pg_cpu * 100_000 / bars:.2f} s; one core of mdtool's allows {bars / cpu if cpu else 0:,.0f} bars/s"
            )
            if not run:
                print(
                    f"    the fake rendering the year the first time: {render_fake * 100_000 / ceiling_bars:.2f} "
                    "CPU-s per 100k bars (later fetches are served from the rows it remembers)"
                )
            print(
                f"    ceilings, same run: plain binance-connector fetch {fetch_rate:,.0f} bars/s "
                f"(fake {fetch_fake * 100_000 / ceiling_bars:.2f} CPU-s per 100k), plain COPY {copy_rate:,.0f} bars/s "
                f"(postgres {copy_pg * 100_000 / ceiling_bars:.2f} CPU-s per 100k); backfill = "
                f"{rate / fetch_rate:.2f}x the fetch, {rate / copy_rate:.2f}x the COPY"
            )
        engine.dispose()
    finally:
        fake.terminate()
        fake.wait(timeout=10)


def bench_stream(url: str, seconds: float, rate: float) -> None:
    port = free_port()
    fake = start_fake(port, rate)
    engine = create_engine(url)
    received: dict[str, float] = {}
    lags: list[float] = []
    event_lags: list[float] = []
    counted = threading.Event()

    def committed(records: object) -> None:
        now = time.time()
        for record in records:  # type: ignore[attr-defined]
            if isinstance(record, Tick) and counted.is_set():
                lags.append(now - received.pop(record.trade_id, now))
                event_lags.append(now - record.timestamp.timestamp())

    writer = BatchingWriter(engine, on_commit=committed).start()

    def sink(ticks: Sequence[Tick]) -> None:
        now = time.time()
        for tick in ticks:
            received[tick.trade_id] = now
        writer.put(ticks)

    stream = BinanceTradeStream(
        BinanceRest(f"http://127.0.0.1:{port}"), f"ws://127.0.0.1:{port}", lambda _s: None
    )
    stop = threading.Event()
    status = StreamStatus()
    reader = threading.Thread(target=stream.run, args=(["BTCUSDT"], sink, stop, status), daemon=True)
    reader.start()
    try:
        time.sleep(2)  # warm-up: connect, subscribe, first batches
        counted.set()
        stored_before, started = writer.stats.stored, time.perf_counter()
        time.sleep(seconds)
        stored = writer.stats.stored - stored_before
        elapsed = time.perf_counter() - started
        stop.set()
        reader.join(timeout=10)
        writer.close(timeout=30)
    finally:
        fake.terminate()
        fake.wait(timeout=10)
        engine.dispose()
    lags.sort()
    event_lags.sort()
    print(
        f"(b) stream: offered {rate:,.0f} trades/s for {elapsed:.0f} s; stored {stored / elapsed:,.0f} trades/s"
    )
    if lags:
        p99 = lags[int(len(lags) * 0.99) - 1]
        print(
            f"    receive-to-commit lag: p50 {statistics.median(lags) * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms over {len(lags):,} trades"
        )
        e99 = event_lags[int(len(event_lags) * 0.99) - 1]
        print(
            f"    exchange-time-to-commit lag: p50 {statistics.median(event_lags) * 1000:.0f} ms, p99 {e99 * 1000:.0f} ms"
        )
    print(
        f"    reconnects {status.reconnects}, gap-filled {status.gaps_filled}, trades seen {status.trades:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--pages-in-flight", type=int, default=1, help="concurrent klines requests")
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2],
        help="backfill processes, one run each (default 1,2)",
    )
    parser.add_argument("--stream-seconds", type=float, default=20.0)
    parser.add_argument("--trade-rate", type=float, default=20_000.0)
    parser.add_argument("--database-url", help="an existing migrated database (default: a fresh cluster)")
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--skip-stream", action="store_true")
    args = parser.parse_args()
    cluster = None if args.database_url else PostgresCluster()
    try:
        if cluster is not None:
            url = cluster.create_database("bench_binance")
            upgrade(url)
        else:
            url = args.database_url
        if not args.skip_backfill:
            bench_backfill(url, args.days, args.pages_in_flight, args.workers, cluster)
        if not args.skip_stream:
            bench_stream(url, args.stream_seconds, args.trade_rate)
    finally:
        if cluster is not None:
            cluster.destroy()


if __name__ == "__main__":
    main()
