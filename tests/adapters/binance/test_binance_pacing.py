"""The sliding-window pacer and the slot plan on their own (pure logic)."""

from __future__ import annotations

import threading

import pytest

from mdtool.adapters.binance.listing import SlotPlan, parse_listing
from mdtool.adapters.binance.pacing import SlidingWindow
from mdtool.selection import ListedSymbol


def test_window_admits_its_limit_then_says_how_long_to_wait() -> None:
    window = SlidingWindow(3, 10.0)
    stop = threading.Event()
    assert all(window.acquire(stop) for _ in range(3))
    assert 9.0 < window.delay() <= 10.0
    stop.set()
    assert window.acquire(stop) is False, "a stopped wait gives up instead of taking a slot"


def test_window_frees_slots_as_they_age() -> None:
    window = SlidingWindow(1, 0.05)
    stop = threading.Event()
    assert window.acquire(stop)
    assert window.acquire(stop)  # waited about 50 ms for the first slot to expire
    with pytest.raises(ValueError, match="limit"):
        SlidingWindow(0, 1.0)


def test_slot_plan_fills_slots_and_keeps_symbols_where_they_are() -> None:
    plan = SlotPlan(2)
    assert plan.add(["C", "A", "B"]) == {0: ["A", "B"], 1: ["C"]}
    assert plan.remove(["A", "X"]) == {0: ["A"]}
    assert plan.add(["D", "E"]) == {0: ["D"], 1: ["E"]}
    assert plan.slots == [["B", "D"], ["C", "E"]]
    assert plan.slot_of("C") == 1 and plan.slot_of("A") is None
    assert plan.symbols == ["B", "C", "D", "E"]


def test_listing_reads_status_and_quote() -> None:
    info = {
        "symbols": [
            {"symbol": "BTCUSDT", "status": "TRADING", "quoteAsset": "USDT"},
            {"symbol": "ETHBTC", "status": "BREAK", "quoteAsset": "BTC"},
            {"nonsense": True},
        ]
    }
    assert parse_listing(info) == [
        ListedSymbol("BTCUSDT", "USDT", True),
        ListedSymbol("ETHBTC", "BTC", False),
    ]
