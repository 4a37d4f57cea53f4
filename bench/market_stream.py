"""A whole Binance market against the local fake into TimescaleDB: how many trades/s mdtool keeps up with.

    .venv/bin/python bench/market_stream.py [--symbols 2000] [--rates 20000,35000,50000] [--seconds 60]
                                            [--streams-per-connection 200] [--database-url postgresql://...]

For each aggregate rate the fake (its own process, so it does not share our GIL) publishes trades
round-robin over `--symbols` symbols; `BinanceTradeStream` selects them all (`--all`), spreads them over
connections and feeds a `BatchingWriter` into TimescaleDB. Printed per rate:

* offered rate, the fake's achieved send rate and its CPU (so the figure is mdtool's, not the fake's);
* stored trades/s and the ratio stored/offered (target >= 0.98);
* p50/p99 receive-to-commit lag of the first trade of every read (target p99 < 1 s);
* mdtool's peak RSS (target < 500 MB) and CPU seconds per 100,000 trades;
* the ceiling in the same run: a reader that only splits frames, from the same fake at the same rate
  (what the fake can deliver), and a plain psycopg COPY of tick rows into a hypertable with the same
  keys and indexes (what the database can take).

The highest rate that meets all three targets is reported at the end. Not a test: no asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and would shadow packages; the
# repository root is needed for `tests.*`.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import psycopg  # noqa: E402 - after the sys.path fix above
from tests.pg_cluster import PostgresCluster, free_port  # noqa: E402 - after the sys.path fix above

from mdtool.adapters.binance import BinanceRest, BinanceTradeStream, frames  # noqa: E402 - after the sys.path fix above
from mdtool.gc_tuning import tune_for_streaming  # noqa: E402 - after the sys.path fix above
from mdtool.migrate import upgrade  # noqa: E402 - after the sys.path fix above
from mdtool.records import Tick  # noqa: E402 - after the sys.path fix above
from mdtool.selection import Selection  # noqa: E402 - after the sys.path fix above
from mdtool.sources import StreamStatus  # noqa: E402 - after the sys.path fix above
from mdtool.storage.batching import BatchingWriter  # noqa: E402 - after the sys.path fix above
from mdtool.storage.engine import create_engine  # noqa: E402 - after the sys.path fix above

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def start_fake(port: int, symbols: int, rate: float) -> subprocess.Popen[str]:
    per_symbol = rate / symbols
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.binance",
            "--port",
            str(port),
            "--symbol-count" if symbols > 1 else "--symbols",
            str(symbols) if symbols > 1 else "BTCUSDT",
            "--trade-rate",
            str(per_symbol),
            "--no-history",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "fake binance on ..." once it listens
    return proc


def fake_sent(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/fake/stats", timeout=60) as answer:
        return int(json.load(answer)["sent"])


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_rate(url: str, symbols: int, rate: float, seconds: float, per_connection: int) -> dict[str, float]:
    port = free_port()
    fake = start_fake(port, symbols, rate)
    engine = create_engine(url)
    received: dict[int, float] = {}
    lags: list[float] = []
    counting = threading.Event()

    def committed(records: Sequence[Tick]) -> None:
        now = time.time()
        pop = received.pop
        for record in records:
            if (at := pop(id(record), None)) is not None:
                lags.append(now - at)

    writer = BatchingWriter(engine, on_commit=committed).start()

    def sink(ticks: Sequence[Tick]) -> None:
        """Samples the first tick of each delivery (one read) for the receive->commit lag."""
        if counting.is_set() and ticks:
            received[id(ticks[0])] = time.time()  # the writer holds the tick until it commits
        writer.put(ticks)

    stream = BinanceTradeStream(
        BinanceRest(f"http://127.0.0.1:{port}"),
        f"ws://127.0.0.1:{port}",
        lambda _s: None,
        streams_per_connection=per_connection,
    )
    stop = threading.Event()
    status = StreamStatus()
    selection = Selection(every_listed=True)
    reader = threading.Thread(target=stream.run, args=(selection, sink, stop, status), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with status.lock:
                ready = status.symbols == symbols and status.connections_up == status.connections_total > 0
            if ready:
                break
            time.sleep(0.2)
        time.sleep(3)  # warm-up: first batches, caches
        counting.set()
        stored0, sent0, cpu0, fake_cpu0 = writer.stats.stored, fake_sent(port), own_cpu(), cpu_of(fake.pid)
        started = time.perf_counter()
        time.sleep(seconds)
        elapsed = time.perf_counter() - started
        stored = writer.stats.stored - stored0
        sent = fake_sent(port) - sent0
        cpu = own_cpu() - cpu0
        fake_cpu = cpu_of(fake.pid) - fake_cpu0
        counting.clear()
        stop.set()
        reader.join(timeout=20)
        writer.close(timeout=60)
    finally:
        fake.terminate()
        fake.wait(timeout=10)
        engine.dispose()
    lags.sort()
    p50 = statistics.median(lags) if lags else float("nan")
    p99 = lags[max(0, int(len(lags) * 0.99) - 1)] if lags else float("nan")
    with status.lock:
        connections = status.connections_total
    return {
        "offered": rate,
        "sent": sent / elapsed,
        "stored": stored / elapsed,
        "fake_cpu": fake_cpu / elapsed,
        "cpu": cpu / elapsed,
        "cpu_per_100k": cpu / max(stored, 1) * 100_000,
        "p50": p50,
        "p99": p99,
        "rss": peak_rss_mb(),
        "connections": connections,
    }


def bare_reader(symbols: int, rate: float, seconds: float, per_connection: int) -> tuple[float, float]:
    """Frames/s (and CPU share) of a reader that only splits frames, on one thread: the fake's ceiling."""
    port = free_port()
    fake = start_fake(port, symbols, rate)
    names = [f"s{i:04d}usdt@trade" for i in range(symbols)] if symbols > 1 else ["btcusdt@trade"]
    selector = selectors.DefaultSelector()
    buffers: dict[int, bytes] = {}
    for start in range(0, len(names), per_connection):
        sock = socket.create_connection(("127.0.0.1", port))
        request, _ = frames.handshake_request(f"127.0.0.1:{port}", "/stream")
        sock.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        group = names[start : start + per_connection]
        for batch in range(0, len(group), 100):
            message = {"method": "SUBSCRIBE", "params": group[batch : batch + 100], "id": batch}
            sock.sendall(frames.encode(frames.TEXT, json.dumps(message).encode()))
            time.sleep(0.4)
        buffers[sock.fileno()] = head.partition(b"\r\n\r\n")[2]
        selector.register(sock, selectors.EVENT_READ)

    def read_for(duration: float) -> int:
        count = 0
        until = time.monotonic() + duration
        while time.monotonic() < until:
            for key, _ in selector.select(0.1):
                data = key.fileobj.recv(262144)  # type: ignore[union-attr]
                got, buffers[key.fd] = frames.split_frames(buffers[key.fd] + data)
                count += len(got)
        return count

    read_for(3)
    cpu0, started = own_cpu(), time.perf_counter()
    count = read_for(seconds)
    elapsed = time.perf_counter() - started
    cpu = (own_cpu() - cpu0) / elapsed
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    fake.terminate()
    fake.wait(timeout=10)
    return count / elapsed, cpu


def plain_copy(url: str, rows: int = 200_000) -> float:
    """Rows/s of a plain psycopg COPY of tick rows, in batches of 10,000, into a scratch hypertable with the
    ticks table's keys and indexes: what the database alone can take, the ceiling of the stored rate."""
    now = datetime.now(UTC)
    data = [
        ("binance", f"S{i % 2000:04d}USDT", now, "trade", str(i), "42000.01", "0.001", "buy")
        for i in range(rows)
    ]
    columns = "exchange, symbol, timestamp, source, trade_id, price, size, side"
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("CREATE TABLE bench_ticks (LIKE market_data_ticks INCLUDING ALL)")
        conn.execute("SELECT create_hypertable('bench_ticks', 'timestamp', create_default_indexes => false)")
        conn.commit()
        started = time.perf_counter()
        for start in range(0, rows, 10_000):
            with conn.cursor().copy(f"COPY bench_ticks ({columns}) FROM STDIN") as copy:
                for row in data[start : start + 10_000]:
                    copy.write_row(row)
            conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_ticks")
        return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--symbols", type=int, default=2000)
    parser.add_argument("--rates", default="20000,35000,50000", help="aggregate trades/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--streams-per-connection", type=int, default=200)
    parser.add_argument("--database-url", help="an existing migrated database (default: a fresh cluster)")
    parser.add_argument("--skip-ceilings", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so `finally` destroys the throw-away cluster
    cluster = None if args.database_url else PostgresCluster()
    tune_for_streaming()  # as `mdtool stream` and `mdtool run` do once they are set up
    passing = []
    try:
        rates = [float(r) for r in args.rates.split(",")]
        for index, rate in enumerate(rates):
            if cluster is not None:
                url = cluster.create_database(f"bench_market_{index}")
                upgrade(url)
            else:
                url = args.database_url
            r = bench_rate(url, args.symbols, rate, args.seconds, args.streams_per_connection)
            ok = r["stored"] >= 0.98 * rate and r["p99"] < 1.0 and r["rss"] < 500
            passing += [rate] if ok else []
            print(
                f"{args.symbols} symbols on {r['connections']:.0f} connections, offered {rate:,.0f}/s for "
                f"{args.seconds:.0f} s: fake sent {r['sent']:,.0f}/s (fake CPU {r['fake_cpu']:.0%}); "
                f"stored {r['stored']:,.0f}/s = {r['stored'] / rate:.3f}x offered; "
                f"receive->commit p50 {r['p50'] * 1000:.0f} ms, p99 {r['p99'] * 1000:.0f} ms; "
                f"peak RSS {r['rss']:.0f} MB; mdtool CPU {r['cpu']:.0%} = {r['cpu_per_100k']:.2f} CPU-s per 100k trades "
                f"{'PASS' if ok else 'FAIL'}",
                flush=True,
            )
            if not args.skip_ceilings:
                bare, bare_cpu = bare_reader(
                    args.symbols, rate, min(args.seconds, 20), args.streams_per_connection
                )
                print(
                    f"    ceiling, same fake and rate: a reader that only splits frames gets {bare:,.0f} frames/s "
                    f"at {bare_cpu:.0%} CPU (mdtool stored {r['stored'] / max(bare, 1):.3f}x of that)",
                    flush=True,
                )
        if not args.skip_ceilings:
            copy = plain_copy(url)
            print(
                f"ceiling: plain psycopg COPY of tick rows into the same keys {copy:,.0f} rows/s", flush=True
            )
        print(
            f"highest rate meeting stored >= 0.98x, p99 < 1 s, RSS < 500 MB: {max(passing, default=0):,.0f}/s"
        )
    finally:
        if cluster is not None:
            cluster.destroy()


if __name__ == "__main__":
    main()
