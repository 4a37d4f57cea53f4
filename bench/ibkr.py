"""Interactive Brokers: a gateway outage during a tick stream, filled from historical ticks, into TimescaleDB.

    .venv/bin/python bench/ibkr.py [--rate 200] [--outage 60] [--before 5] [--after 15] [--scale 1]
                                   [--database-url postgresql://...]

The fake gateway (in-process, its own thread and event loop) produces `--rate` trades/s on its tape with
real-time whole-second stamps, many of them identical within a second (same price and size), while
`run_stream` stores AllLast ticks through the shared batching writer. After `--before` seconds the
gateway goes down for `--outage` seconds (the tape runs on), then comes back; the stream reconnects,
resubscribes and fills the hole with reqHistoricalTicks under IB's pacing rules (`--scale` < 1 shrinks
the fake's and the client's pacing windows alike; 1 = IB's real 15 s / 2 s x5 / 10 min x60).

Prints: time from the gateway's return to the fill's completion, the requests it took, the floor IB's
pacing rules put on that many requests (the ceiling, computed for the same run) and the ratio; pacing
violations the fake saw (must be 0); and whether the stored ticks equal the tape exactly (count and
multiset of time, price, size). Without `--database-url` a throw-away TimescaleDB cluster is started
(tests/pg_cluster.py). Not a test: no asserts.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.ib_gateway import FakeContract, FakeIBGateway
from tests.fakes.ib_gateway import PacingRules as GatewayPacing
from tests.pg_cluster import PostgresCluster

from mdtool.adapters.ibkr import ContractSpec, Endpoint, IbkrTickStream, StreamOptions
from mdtool.adapters.ibkr.pacing import PacingRules
from mdtool.migrate import upgrade
from mdtool.records import normalize_decimal
from mdtool.storage.engine import create_engine
from mdtool.storage.queries import ticks_between
from mdtool.stream import StreamSummary, run_stream

AAPL = FakeContract(265598, "AAPL", long_name="APPLE INC")


class Producer:
    """`rate` trades/s on the fake's tape, in 20 ms bursts, stamped with the current second."""

    def __init__(self, gateway: FakeIBGateway, rate: float) -> None:
        self.gateway, self.rate = gateway, rate
        self.count = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self.stop.is_set():
            due = int((time.monotonic() - started) * self.rate)
            while self.count < due:
                n = self.count
                price, size = f"189.{n % 5}", str(100 * (1 + n % 2))  # 10 kinds: many twins per second
                self.gateway.push_trade("AAPL", int(time.time()), price, size)
                self.count += 1
            time.sleep(0.02)


def pacing_floor(requests: int, rules: PacingRules) -> float:
    """The least time IB's rules allow for `requests` TRADES requests on one contract, back to back."""
    bursts = math.ceil(requests / rules.burst_max) - 1
    windows = math.ceil(requests / rules.window_max) - 1
    return max(bursts * rules.burst_seconds, windows * rules.window_seconds)


def run(
    url: str, rate: float, outage: float, before: float, after: float, scale: float, watch: FillWatch
) -> None:
    rules = PacingRules().scaled(scale)
    fake_rules = GatewayPacing(15 * scale, 2 * scale, 5, 600 * scale, 60)
    engine = create_engine(url)
    with FakeIBGateway([AAPL], pacing=fake_rules) as gateway:
        options = StreamOptions(pacing=rules, fill_backoff_seconds=15 * scale)
        stream = IbkrTickStream(Endpoint("127.0.0.1", gateway.port, 41), ContractSpec(), options=options)
        stop = threading.Event()
        summary: list[StreamSummary] = []
        reader = threading.Thread(
            target=lambda: summary.append(run_stream(engine, stream, ["AAPL"], stop=stop)), daemon=True
        )
        reader.start()
        gateway.wait_for_subscriptions(1, timeout=30)
        producer = Producer(gateway, rate)
        producer.thread.start()
        time.sleep(before)
        gateway.stop_listening()
        print(f"gateway down for {outage:.0f} s at {rate:.0f} trades/s ...", flush=True)
        time.sleep(outage)
        asked_before = len(gateway.historical_requests)
        gateway.start_listening()
        back = time.monotonic()
        gateway.wait_for_subscriptions(1, timeout=30)
        resubscribed = time.monotonic() - back
        filled_at = watch.wait(timeout=after + 120)
        fill_seconds = filled_at - back
        requests = len(gateway.historical_requests) - asked_before
        time.sleep(max(0.0, after - fill_seconds))
        producer.stop.set()
        producer.thread.join()
        time.sleep(1.5)  # the last live ticks reach the writer
        stop.set()
        reader.join(timeout=60)
        produced = Counter(
            (t.epoch, str(normalize_decimal(Decimal(t.price))), str(normalize_decimal(Decimal(t.size))))
            for t in gateway.tape.trades["AAPL"]
        )
        violations = list(gateway.violations)
    first, last = min(produced)[0], max(produced)[0]
    stored_ticks = ticks_between(
        engine, "ibkr", "AAPL", datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last + 1, UTC)
    )
    stored = Counter((int(t.timestamp.timestamp()), str(t.price), str(t.size)) for t in stored_ticks)
    engine.dispose()
    floor = pacing_floor(requests, rules)
    print(f"produced {sum(produced.values()):,} trades; stored {sum(stored.values()):,}; "
          f"equal: {stored == produced} (missing {sum((produced - stored).values())}, "
          f"extra {sum((stored - produced).values())})")  # fmt: skip
    print(f"resubscribed {resubscribed:.2f} s after the gateway came back (reconnect backoff); hole filled "
          f"{fill_seconds:.2f} s after it came back, {fill_seconds - resubscribed:.2f} s after resubscribing "
          f"(including the {options.fill_settle_seconds:g} s settle after the first live second), "
          f"with {requests} historical-tick requests")  # fmt: skip
    print(f"pacing floor for {requests} requests (burst {rules.burst_max}/{rules.burst_seconds:g} s, "
          f"{rules.window_max}/{rules.window_seconds:g} s): {floor:.2f} s; fill time / floor = "
          f"{(fill_seconds - resubscribed) / floor if floor else float('inf'):.2f} (from resubscribing); pacing violations at the gateway: {len(violations)}")  # fmt: skip
    if summary:
        print(f"stream: {summary[0].line()}")


class FillWatch(logging.Handler):
    """Catches the adapter's "filled AAPL AllLast ..." log line: the moment the fill completed."""

    def __init__(self) -> None:
        super().__init__()
        self.done = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("filled AAPL AllLast"):
            print(f"  {record.getMessage()}", flush=True)
            self.done.set()

    def wait(self, timeout: float) -> float:
        """The monotonic time the fill completed (or the deadline)."""
        self.done.wait(timeout)
        return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--outage", type=float, default=60.0)
    parser.add_argument("--before", type=float, default=5.0)
    parser.add_argument("--after", type=float, default=15.0)
    parser.add_argument("--scale", type=float, default=1.0, help="pacing windows x this (1 = IB's)")
    parser.add_argument("--database-url", help="an existing migrated database (default: a fresh cluster)")
    args = parser.parse_args()
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="mdtool-bench-")  # a private pacing ledger

    watch = FillWatch()
    logging.getLogger("mdtool.adapters.ibkr.fill").addHandler(watch)
    logging.getLogger("mdtool.adapters.ibkr.fill").setLevel(logging.INFO)
    cluster = None if args.database_url else PostgresCluster()
    try:
        url = args.database_url
        if cluster is not None:
            url = cluster.create_database("bench_ibkr")
            upgrade(url)
        run(url, args.rate, args.outage, args.before, args.after, args.scale, watch)
    finally:
        if cluster is not None:
            cluster.destroy()


if __name__ == "__main__":
    main()
