"""TradingView webhook under load: alerts over loopback into one uvicorn worker and TimescaleDB.

    .venv/bin/python bench/webhook.py [--scenarios hmac,tls,tls-reconnect] [--senders 32]
                                      [--seconds 10] [--warmup 2] [--database-url URL]

Scenarios, each against a fresh service process, run one after the other in the same run:

- `hmac`: plain HTTP, `X-Signature` on every alert (the figure before TLS existed; the baseline).
- `tls`: HTTPS with TradingView's client certificate checked (`tls-client-cert,passphrase`, the
  README's direct recipe), one keep-alive connection per sender.
- `tls-reconnect`: the same, but alerts arriving independently at `--reconnect-rate` per second
  (open loop), each on a new TLS connection (full handshake with client certificate), as
  TradingView's alerts do when it does not reuse connections; latency includes the handshake.

The service runs exactly as `mdtool serve-webhook --workers 1` does (`run_serve_webhook`, access log
on, to a file) in its own process. The load generator is a minimal asyncio HTTP/1.1 client, each
sender sending alerts back to back (a closed loop: a sender waits for the answer before the next
alert); it is far lighter than httpx, so on a 2-core machine the server gets most of the CPU. Every
alert carries a unique `id` and a `time`, so every 200 is a new row. Reported per scenario:
requests/s, stored alerts/s (rows counted in the database over the measured window), the service
process's CPU time per stored alert (from /proc: what the server costs whatever else the machine
runs), p50/p99/max latency of 200 answers, and the ratio of stored alerts/s to the `hmac` baseline of
the same run.
Targets: >= 1,500 stored alerts/s, p99 < 50 ms (TradingView gives up after 3 s).

Certificates (a test CA, the server's, TradingView's subject) are made for the run
(tests/webhook/certs.py). Without `--database-url` a throw-away TimescaleDB cluster is started
(tests/pg_cluster.py). Not a test: no asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-0123456789abcdef"
PASSPHRASE = "bench-passphrase-0123456789"
PATH = "/webhooks/tradingview"
SCENARIOS = ("hmac", "tls", "tls-reconnect")


@dataclass(frozen=True)
class Scenario:
    name: str
    client_tls: ssl.SSLContext | None  # None: plain HTTP with X-Signature
    rate: float | None  # alerts/s on a new connection each (open loop); None: closed loop, keep-alive


def scenario_env(scenario: Scenario, url: str, pki: Any) -> dict[str, str]:
    env = {**os.environ, "MARKET_DATA_DATABASE_URL": url}
    if scenario.client_tls is None:
        return {**env, "MDTOOL_WEBHOOK_AUTH": "hmac", "TRADINGVIEW_HMAC_SECRET": SECRET}
    return {
        **env,
        "MDTOOL_WEBHOOK_AUTH": "tls-client-cert,passphrase",
        "TRADINGVIEW_PASSPHRASE": PASSPHRASE,
        "MDTOOL_WEBHOOK_SSL_CERTFILE": str(pki.server.cert),
        "MDTOOL_WEBHOOK_SSL_KEYFILE": str(pki.server.key),
        "MDTOOL_WEBHOOK_SSL_CA_CERTS": str(pki.ca),
    }


def start_service(
    env: dict[str, str], port: int, log_path: Path, client_tls: ssl.SSLContext | None
) -> subprocess.Popen[bytes]:
    code = f"import sys; from mdtool.cli.serve_webhook import run_serve_webhook; sys.exit(run_serve_webhook('127.0.0.1', {port}, 1))"
    with log_path.open("wb") as log:
        service = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=log, cwd=ROOT)
    scheme = "https" if client_tls else "http"
    deadline = time.monotonic() + 60
    while True:
        try:
            health = httpx.get(f"{scheme}://127.0.0.1:{port}/health", timeout=2, verify=client_tls or True)
            if health.status_code == 200:
                return service
        except httpx.TransportError:
            pass
        if service.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the service did not start; see {log_path}")
        time.sleep(0.05)


class Sender:
    """Sends alerts: one after another on one connection (`run`), or one per connection (`once`)."""

    def __init__(self, number: int, port: int, scenario: Scenario) -> None:
        self.number = number
        self.port = port
        self.scenario = scenario
        self.sequence = 0
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}

    def request(self) -> bytes:
        self.sequence += 1
        document: dict[str, Any] = {
            "ticker": f"BENCH{self.number % 8}",
            "exchange": "BENCH",
            "close": f"{42000 + self.sequence % 1000}.{self.sequence % 100:02d}",
            "volume": "0.125",
            "time": int(time.time() * 1000),
            "id": f"{self.number}-{self.sequence}",
            "strategy": {"action": "buy", "position": "1"},
        }
        if self.scenario.client_tls is None:
            body = json.dumps(document).encode()
            signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            extra = f"Content-Type: application/json\r\nX-Signature: {signature}\r\n"
        else:
            body = json.dumps({**document, "passphrase": PASSPHRASE}).encode()
            extra = "Content-Type: text/plain; charset=utf-8\r\n"  # what TradingView sends
        connection = "Connection: close\r\n" if self.scenario.rate else ""
        head = f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}{connection}Content-Length: {len(body)}\r\n\r\n"
        return head.encode() + body

    async def run(self, measure_from: float, stop_at: float) -> None:
        """Closed loop on one keep-alive connection."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=self.scenario.client_tls)
        try:
            while (now := time.perf_counter()) < stop_at:
                writer.write(self.request())
                self.record(now, measure_from, await read_response(reader))
        finally:
            writer.close()

    async def once(self, measure_from: float) -> None:
        """One alert on a new connection; the latency includes connecting and the TLS handshake."""
        now = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=self.scenario.client_tls)
        try:
            writer.write(self.request())
            self.record(now, measure_from, await read_response(reader))
        finally:
            writer.close()

    def record(self, sent: float, measure_from: float, status: int) -> None:
        if sent >= measure_from:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 200:
                self.latencies.append(time.perf_counter() - sent)


async def open_loop(sender: Sender, rate: float, measure_from: float, stop_at: float) -> None:
    """Alerts arriving independently at `rate` per second, each on its own connection (TradingView-like)."""
    tasks = set()
    next_at = time.perf_counter()
    while next_at < stop_at:
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        task = asyncio.create_task(sender.once(measure_from))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        next_at += 1 / rate
    await asyncio.gather(*tasks)


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): the server's cost, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    scenario: Scenario,
    port: int,
    senders: int,
    warmup: float,
    seconds: float,
    engine: sqlalchemy.Engine,
    service_pid: int,
) -> float:
    """Run the load; print the figures; return stored alerts/s."""
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    if scenario.rate:
        group = [Sender(0, port, scenario)]
        tasks = [asyncio.create_task(open_loop(group[0], scenario.rate, measure_from, stop_at))]
    else:
        group = [Sender(n, port, scenario) for n in range(senders)]
        tasks = [asyncio.create_task(sender.run(measure_from, stop_at)) for sender in group]
    await asyncio.sleep(warmup)
    rows_before = await asyncio.to_thread(stored_rows, engine)
    cpu_before = cpu_seconds(service_pid)
    await asyncio.gather(*tasks)
    cpu_after = cpu_seconds(service_pid)
    rows_after = await asyncio.to_thread(stored_rows, engine)
    latencies = sorted(latency for sender in group for latency in sender.latencies)
    statuses: dict[int, int] = {}
    for sender in group:
        for status, number in sender.statuses.items():
            statuses[status] = statuses.get(status, 0) + number
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")  # never beyond the max
    stored = (rows_after - rows_before) / seconds
    print(
        f"[{scenario.name}] {f'{scenario.rate:g} alerts/s open loop' if scenario.rate else f'senders: {senders}'}, measured: {seconds:.0f} s after {warmup:.0f} s warm-up, statuses: {statuses}"
    )
    print(f"  requests/s:      {sum(statuses.values()) / seconds:,.0f}")
    print(f"  stored alerts/s: {stored:,.0f}")
    cpu_ms = (cpu_after - cpu_before) * 1000 / max(1, rows_after - rows_before)
    print(f"  service CPU per stored alert: {cpu_ms:.2f} ms (one core could take {1000 / cpu_ms:,.0f}/s)")
    print(f"  latency of 200s: p50 {quantiles[49] * 1000:.1f} ms, p99 {quantiles[98] * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms")  # fmt: skip
    return stored


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma list of " + ", ".join(SCENARIOS)
    )
    parser.add_argument("--senders", type=int, default=32)
    parser.add_argument("--reconnect-rate", type=float, default=20.0, help="alerts/s of tls-reconnect")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--database-url", help="a migrated database; default: a throw-away TimescaleDB")
    parser.add_argument("--log", type=Path, help="keep the service log (access lines) in this file")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.pg_cluster import PostgresCluster
    from tests.webhook.certs import make_pki

    from mdtool.migrate import upgrade

    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    if not names or any(name not in SCENARIOS for name in names):
        parser.error(f"--scenarios: choose from {', '.join(SCENARIOS)}")
    scratch = Path(tempfile.mkdtemp(prefix="mdtool-bench-"))
    pki = make_pki(scratch)
    client_tls = ssl.create_default_context(cafile=str(pki.ca))
    client_tls.load_cert_chain(*pki.tradingview.as_httpx)
    scenarios = [
        Scenario(
            name,
            client_tls if name != "hmac" else None,
            args.reconnect_rate if name.endswith("reconnect") else None,
        )
        for name in names
    ]
    cluster = None if args.database_url else PostgresCluster()
    try:
        url = args.database_url or cluster.create_database("bench_webhook")  # type: ignore[union-attr]
        upgrade(url)
        engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        rates = {}
        for scenario in scenarios:
            rates[scenario.name] = run_scenario(scenario, url, pki, args, engine, scratch)
        engine.dispose()
        if "hmac" in rates:
            for name, rate in rates.items():
                print(f"stored alerts/s {name} / hmac (same run): {rate / rates['hmac']:.2f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if cluster is not None:
            cluster.destroy()


def run_scenario(
    scenario: Scenario, url: str, pki: Any, args: argparse.Namespace, engine: sqlalchemy.Engine, scratch: Path
) -> float:
    from tests.pg_cluster import free_port

    port = free_port()
    log_path = (args.log or scratch / "webhook.log").with_suffix(f".{scenario.name}.log")
    service = start_service(scenario_env(scenario, url, pki), port, log_path, scenario.client_tls)
    try:
        return asyncio.run(load(scenario, port, args.senders, args.warmup, args.seconds, engine, service.pid))
    finally:
        service.terminate()
        service.wait(30)
        warnings = [
            line for line in log_path.read_text().splitlines() if "WARNING" in line or "ERROR" in line
        ]
        print(f"  service log: {len(warnings)} warning/error lines", *warnings[:5], sep="\n    ")


if __name__ == "__main__":
    main()
