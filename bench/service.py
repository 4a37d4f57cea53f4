"""`mdtool run`, its `/metrics` and `mdtool status`, each measured against a ceiling in the same run.

    .venv/bin/python bench/service.py stream  [--seconds 20] [--trade-rate 5000]
    .venv/bin/python bench/service.py metrics [--symbols 2000]
    .venv/bin/python bench/service.py status  [--ticks 20000000] [--bars 5000000] [--database-url URL]

stream:  `mdtool stream binance BTCUSDT ETHUSDT` and then `mdtool run` with one stream job of the same
         symbols, each a real process for `--seconds` against the fake exchange (its own process,
         publishing `--trade-rate` trades/s per symbol), each into a fresh TimescaleDB database; prints
         the trades each stored per second of streaming and the ratio run/stream (target >= 0.95).
metrics: a supervisor whose backfill job has kept `--symbols` series (real backfills against the fake),
         scraped over HTTP 20 times; prints the median scrape time (target < 50 ms) and, as the ceiling,
         rendering the same number of samples from plain prometheus-client gauges.
status:  `inventory()` over `--ticks` ticks and `--bars` 1m bars made with generate_series (about 15
         minutes to generate on 2 shared cores; pass `--database-url` to reuse a database filled by an
         earlier run); prints its time (target < 2 s) and a naive GROUP BY count over the same tables.
Not a test: no asserts.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402 - after the sys.path fix above
from prometheus_client import CollectorRegistry, Gauge, generate_latest  # noqa: E402
from tests.fakes.binance import FakeBinance  # noqa: E402
from tests.pg_cluster import PostgresCluster, free_port  # noqa: E402

from mdtool.config import load_settings  # noqa: E402
from mdtool.migrate import upgrade  # noqa: E402
from mdtool.service.config import load_config  # noqa: E402
from mdtool.service.listing import resolve_symbols  # noqa: E402
from mdtool.service.metrics import MetricsServer  # noqa: E402
from mdtool.service.supervisor import Supervisor  # noqa: E402
from mdtool.storage.engine import create_engine  # noqa: E402
from mdtool.storage.inventory import inventory  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from service_data import generate  # noqa: E402


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def stored_rate(url: str) -> tuple[int, float]:
    """Trades stored, and stored per second between the first and the last commit."""
    with psycopg.connect(plain(url)) as conn:
        count, first, last = conn.execute(
            "SELECT count(*), min(ingested_at), max(ingested_at) FROM market_data_ticks"
        ).fetchone() or (0, None, None)
    span = (last - first).total_seconds() if first and last else 0.0
    return int(count), (count / span if span else 0.0)


def run_process(args: list[str], env: dict[str, str], seconds: float) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "mdtool", *args], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(seconds)  # a benchmark's measurement window, not synchronisation
    process.send_signal(signal.SIGTERM)
    process.wait(120)


def bench_stream(seconds: float, rate: float) -> None:
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.binance", "--port", str(port), "--trade-rate", str(rate),
         "--symbols", "BTCUSDT,ETHUSDT"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert fake.stdout is not None
    fake.stdout.readline()
    cluster = PostgresCluster()
    try:
        results = {}
        for name in ("stream", "run"):
            url = cluster.create_database(f"bench_{name}")
            upgrade(url)
            env = {**os.environ, "MARKET_DATA_DATABASE_URL": url,
                   "BINANCE_BASE_URL": f"http://127.0.0.1:{port}", "BINANCE_STREAM_URL": f"ws://127.0.0.1:{port}"}  # fmt: skip
            if name == "stream":
                run_process(["stream", "binance", "BTCUSDT", "ETHUSDT"], env, seconds)
            else:
                with tempfile.TemporaryDirectory() as folder:
                    config = Path(folder) / "mdtool.toml"
                    config.write_text(
                        '[[stream]]\nvenue = "binance"\nsymbols = ["BTCUSDT", "ETHUSDT"]\n\n'
                        f'[metrics]\nlisten = "127.0.0.1:{free_port()}"\n'
                    )
                    run_process(["run", str(config)], env, seconds)
            results[name] = stored_rate(url)
            count, per_second = results[name]
            print(f"mdtool {name:6}: {count:,} trades stored, {per_second:,.0f} trades/s while streaming")
        ratio = results["run"][1] / results["stream"][1] if results["stream"][1] else 0.0
        print(f"run / stream = {ratio:.3f} (target >= 0.95); offered {2 * rate:,.0f} trades/s")
    finally:
        cluster.destroy()
        fake.terminate()
        fake.wait(10)


def bench_metrics(symbols: int) -> None:
    names = [f"S{index:04d}USDT" for index in range(symbols)]
    listed = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    cluster = PostgresCluster()
    fake = FakeBinance(symbols=dict.fromkeys(names, listed), weight_limit=10**9).start()
    try:
        url = cluster.create_database("bench_metrics")
        upgrade(url)
        with tempfile.TemporaryDirectory() as folder:
            settings = load_settings(
                {"MARKET_DATA_DATABASE_URL": url, "BINANCE_BASE_URL": fake.base_url,
                 "BINANCE_STREAM_URL": fake.stream_url}, env_file=Path(folder) / "none",
            )  # fmt: skip
            path = Path(folder) / "mdtool.toml"
            path.write_text(
                f'[[backfill]]\nvenue = "binance"\nsymbols = {names!r}\nintervals = ["1m"]\n'.replace(
                    "'", '"'
                )
                + f'since = "{listed.isoformat()}"\nevery = "1d"\njitter = 0\n'
            )
            engine = create_engine(url)
            supervisor = Supervisor(
                settings, engine, lambda job: resolve_symbols(settings, job.venue, job.selection)
            )
            supervisor.apply(load_config(path))
            job = supervisor.jobs.backfills[0]
            started = time.monotonic()
            while job.cycles == 0:
                time.sleep(0.5)
            print(f"{symbols} series backfilled in {time.monotonic() - started:.0f} s")
            server = MetricsServer(supervisor)
            port = server.start("127.0.0.1", 0)
            timings, size = [], 0
            for _ in range(20):
                begun = time.perf_counter()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
                    size = len(answer.read())
                timings.append(time.perf_counter() - begun)
            samples = sum(
                1
                for line in generate_latest(server.registry).decode().splitlines()
                if not line.startswith("#")
            )
            print(f"/metrics: {samples:,} samples, {size:,} bytes, median {statistics.median(timings) * 1000:.1f} ms "
                  f"(max {max(timings) * 1000:.1f} ms; target < 50 ms)")  # fmt: skip
            registry = CollectorRegistry()
            gauge = Gauge("plain", "ceiling", ["a", "b", "c", "d"], registry=registry)
            for index in range(samples):
                gauge.labels("binance", "job", f"S{index}", "1m").set(index)
            begun = time.perf_counter()
            for _ in range(20):
                generate_latest(registry)
            ceiling = (time.perf_counter() - begun) / 20
            print(f"ceiling: rendering {samples:,} plain gauge samples takes {ceiling * 1000:.1f} ms "
                  f"(scrape / ceiling = {statistics.median(timings) / ceiling:.2f})")  # fmt: skip
            server.stop()
            supervisor.stop()
            engine.dispose()
    finally:
        fake.stop()
        cluster.destroy()


def bench_status(url: str | None, ticks: int, bars: int) -> None:
    cluster = None
    if url is None:
        cluster = PostgresCluster()
        url = cluster.create_database("bench_status")
        upgrade(url)
        begun = time.monotonic()
        generate(url, ticks, bars)
        print(f"generated {ticks:,} ticks and {bars:,} bars in {time.monotonic() - begun:.0f} s")
    try:
        engine = create_engine(url)
        timings = []
        for _ in range(3):
            begun = time.perf_counter()
            series = inventory(engine)
            timings.append(time.perf_counter() - begun)
        engine.dispose()
        exact = sum(item.rows_exact for item in series)
        print(f"status: {len(series)} series ({exact} counted exactly, the rest estimated), "
              f"{min(timings):.2f}-{max(timings):.2f} s (target < 2 s)")  # fmt: skip
        begun = time.perf_counter()
        with psycopg.connect(plain(url)) as conn:
            conn.execute("SELECT exchange, symbol, interval, min(timestamp), max(timestamp), count(*) "
                         "FROM market_data_ohlcv GROUP BY 1, 2, 3").fetchall()  # fmt: skip
            conn.execute("SELECT exchange, symbol, source, min(timestamp), max(timestamp), count(*) "
                         "FROM market_data_ticks GROUP BY 1, 2, 3").fetchall()  # fmt: skip
        naive = time.perf_counter() - begun
        print(
            f"naive GROUP BY over the same tables: {naive:.2f} s (status is {naive / min(timings):.0f}x faster)"
        )
    finally:
        if cluster is not None:
            cluster.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("stream", "metrics", "status"))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--trade-rate", type=float, default=5000.0)
    parser.add_argument("--symbols", type=int, default=2000)
    parser.add_argument("--ticks", type=int, default=20_000_000)
    parser.add_argument("--bars", type=int, default=5_000_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.what == "stream":
        bench_stream(args.seconds, args.trade_rate)
    elif args.what == "metrics":
        bench_metrics(args.symbols)
    else:
        bench_status(args.database_url, args.ticks, args.bars)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
