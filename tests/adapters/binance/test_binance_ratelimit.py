"""The weight gate on its own: windows, in-flight reservations and the 429 block."""

from __future__ import annotations

import threading
import time

from mdtool.adapters.binance.ratelimit import RateGate, WeightWindow

HEADER = "x-mbx-used-weight-1s"


def test_unconfigured_gate_admits_everything() -> None:
    gate = RateGate()
    for _ in range(100):
        gate.acquire(50)
    assert not gate.configured


def test_waits_for_the_next_window_when_the_budget_is_spent() -> None:
    gate = RateGate(safety=1.0)
    gate.configure([WeightWindow(seconds=0.25, limit=10, header=HEADER)])
    gate.acquire(4)
    gate.settle(4, {HEADER.upper(): "4"})
    gate.acquire(4)
    gate.settle(4, {HEADER: "8"})
    window = int(time.time() // 0.25)
    gate.acquire(4)  # 8 + 4 > 10: must wait for a fresh window
    assert int(time.time() // 0.25) > window


def test_in_flight_weight_counts_before_the_answer_arrives() -> None:
    gate = RateGate(safety=1.0)
    gate.configure([WeightWindow(seconds=0.3, limit=10, header=HEADER)])
    gate.acquire(6)  # not settled yet
    admitted = threading.Event()
    waiter = threading.Thread(target=lambda: (gate.acquire(6), admitted.set()))
    waiter.start()
    assert not admitted.wait(0.05)
    gate.settle(6, {HEADER: "6"})
    assert admitted.wait(1.0)  # the next window at the latest
    waiter.join(timeout=1)


def test_block_stops_every_caller_until_it_expires() -> None:
    gate = RateGate()
    gate.configure([WeightWindow(seconds=60, limit=6000, header="x-mbx-used-weight-1m")])
    gate.block(0.3)
    started = time.monotonic()
    gate.acquire(1)
    assert time.monotonic() - started >= 0.29


def test_missing_header_is_estimated_from_the_weight() -> None:
    gate = RateGate(safety=1.0)
    gate.configure([WeightWindow(seconds=0.3, limit=10, header=HEADER)])
    window = int(time.time() // 0.3)
    for _ in range(5):
        gate.acquire(2)
        gate.settle(2, None)
    gate.acquire(2)
    assert int(time.time() // 0.3) > window
