"""TradingView webhook under load: signed alerts over loopback into one uvicorn worker and TimescaleDB.

    .venv/bin/python bench/webhook.py [--senders 32] [--seconds 10] [--warmup 2] [--database-url URL]

The service runs exactly as `mdtool serve-webhook --workers 1` does (`run_serve_webhook`, access log
on, to a file) in its own process. The load generator is a minimal asyncio HTTP/1.1 client with one
keep-alive connection per sender, each sending signed alerts back to back (a closed loop: a sender
waits for the answer before the next alert); it is far lighter than httpx, so on a 2-core machine
the server gets most of the CPU. Every alert carries a unique `id` and a `time`, so every 200 is a
new row. Reported: requests/s, stored alerts/s (rows counted in the database over the measured
window), and p50/p99/max latency of 200 answers. Target: >= 1,500 stored alerts/s with p99 < 50 ms.

Without `--database-url` a throw-away TimescaleDB cluster is started (tests/pg_cluster.py). Not a
test: no asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-0123456789abcdef"
PATH = "/webhooks/tradingview"


def start_service(url: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MARKET_DATA_DATABASE_URL": url, "TRADINGVIEW_HMAC_SECRET": SECRET}
    code = f"import sys; from mdtool.cli.serve_webhook import run_serve_webhook; sys.exit(run_serve_webhook('127.0.0.1', {port}, 1))"
    with log_path.open("wb") as log:
        service = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=log, cwd=ROOT)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return service
        except httpx.TransportError:
            pass
        if service.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the service did not start; see {log_path}")
        time.sleep(0.05)


class Sender:
    """One keep-alive connection sending signed alerts one after another."""

    def __init__(self, number: int, port: int) -> None:
        self.number = number
        self.port = port
        self.sequence = 0
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}

    def request(self) -> bytes:
        self.sequence += 1
        body = json.dumps(
            {
                "ticker": f"BENCH{self.number % 8}",
                "exchange": "BENCH",
                "close": f"{42000 + self.sequence % 1000}.{self.sequence % 100:02d}",
                "volume": "0.125",
                "time": int(time.time() * 1000),
                "id": f"{self.number}-{self.sequence}",
                "strategy": {"action": "buy", "position": "1"},
            }
        ).encode()
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def run(self, measure_from: float, stop_at: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            while (now := time.perf_counter()) < stop_at:
                writer.write(self.request())
                status = await read_response(reader)
                if now >= measure_from:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    if status == 200:
                        self.latencies.append(time.perf_counter() - now)
        finally:
            writer.close()


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return int(lines[0].split()[1])


def stored_rows(engine: sqlalchemy.Engine) -> int:
    with engine.connect() as conn:
        query = "SELECT count(*) FROM market_data_ticks WHERE source = 'TradingView' AND exchange = 'BENCH'"
        return int(conn.execute(sqlalchemy.text(query)).scalar_one())


async def load(port: int, senders: int, warmup: float, seconds: float, engine: sqlalchemy.Engine) -> None:
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    group = [Sender(n, port) for n in range(senders)]
    tasks = [asyncio.create_task(sender.run(measure_from, stop_at)) for sender in group]
    await asyncio.sleep(warmup)
    rows_before = await asyncio.to_thread(stored_rows, engine)
    await asyncio.gather(*tasks)
    rows_after = await asyncio.to_thread(stored_rows, engine)
    latencies = sorted(latency for sender in group for latency in sender.latencies)
    statuses: dict[int, int] = {}
    for sender in group:
        for status, number in sender.statuses.items():
            statuses[status] = statuses.get(status, 0) + number
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"senders: {senders}, measured: {seconds:.0f} s after {warmup:.0f} s warm-up, statuses: {statuses}")
    print(f"requests/s:      {sum(statuses.values()) / seconds:,.0f}")
    print(f"stored alerts/s: {(rows_after - rows_before) / seconds:,.0f}")
    print(f"latency of 200s: p50 {quantiles[49] * 1000:.1f} ms, p99 {quantiles[98] * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--senders", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--database-url", help="a migrated database; default: a throw-away TimescaleDB")
    parser.add_argument("--log", type=Path, help="keep the service log (access lines) in this file")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.pg_cluster import PostgresCluster, free_port

    from mdtool.migrate import upgrade

    cluster = None if args.database_url else PostgresCluster()
    try:
        url = args.database_url or cluster.create_database("bench_webhook")  # type: ignore[union-attr]
        upgrade(url)
        engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        port = free_port()
        scratch = Path(tempfile.mkdtemp(prefix="mdtool-bench-"))
        log_path = args.log or scratch / "webhook.log"
        service = start_service(url, port, log_path)
        try:
            asyncio.run(load(port, args.senders, args.warmup, args.seconds, engine))
        finally:
            service.terminate()
            service.wait(30)
            engine.dispose()
            warnings = [
                line for line in log_path.read_text().splitlines() if "WARNING" in line or "ERROR" in line
            ]
            print(f"service log: {len(warnings)} warning/error lines", *warnings[:5], sep="\n  ")
            shutil.rmtree(scratch, ignore_errors=True)
    finally:
        if cluster is not None:
            cluster.destroy()


if __name__ == "__main__":
    main()
