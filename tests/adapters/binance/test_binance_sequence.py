"""Trade-id sequencing on its own, with an in-memory trade history standing in for historicalTrades."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from mdtool.adapters.binance.sequence import TradeSequencer
from mdtool.records import Tick

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def trade(trade_id: int, symbol: str = "BTCUSDT") -> Tick:
    return Tick("binance", symbol, T0, "trade", str(trade_id), "1.5", "2", "buy")


class History:
    """What REST would serve: trades with the given ids, `page` at a time, from `fromId` upward."""

    def __init__(self, ids: list[int], page: int = 3) -> None:
        self.ids = ids
        self.page = page
        self.calls: list[int] = []

    def __call__(self, symbol: str, from_id: int) -> list[Tick]:
        self.calls.append(from_id)
        return [trade(i, symbol) for i in self.ids if i >= from_id][: self.page]


def make(
    history: History, last: int | None, stop: threading.Event | None = None
) -> tuple[TradeSequencer, list[int]]:
    out: list[int] = []
    sequencer = TradeSequencer(
        {"BTCUSDT": last},
        history,
        lambda t: out.append(int(t.trade_id)),
        history.page,
        stop or threading.Event(),
    )
    return sequencer, out


def test_first_trade_without_history_is_delivered_as_is() -> None:
    sequencer, out = make(History([]), None)
    sequencer.accept(trade(42))
    sequencer.accept(trade(43))
    assert out == [42, 43]
    assert sequencer.catch_up("BTCUSDT") == 0


def test_duplicates_are_dropped() -> None:
    sequencer, out = make(History([]), 10)
    for i in (9, 10, 11, 11, 12, 10):
        sequencer.accept(trade(i))
    assert out == [11, 12]
    assert sequencer.duplicates == 4


def test_hole_is_filled_across_pages_before_the_live_trade() -> None:
    history = History(list(range(1, 30)), page=3)
    sequencer, out = make(history, 5)
    assert sequencer.accept(trade(20)) == 14
    assert out == list(range(6, 21))
    assert history.calls == [6, 9, 12, 15, 18]


def test_catch_up_reads_until_a_short_page() -> None:
    history = History(list(range(1, 12)), page=3)
    sequencer, out = make(history, 4)
    assert sequencer.catch_up("BTCUSDT") == 7
    assert out == list(range(5, 12))
    sequencer.accept(trade(11))
    sequencer.accept(trade(12))
    assert out[-1] == 12
    assert out.count(11) == 1


def test_a_hole_rest_cannot_fill_is_crossed_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    history = History([1, 2, 3, 7, 8], page=10)
    sequencer, out = make(history, 2)
    sequencer.accept(trade(9))
    assert out == [3, 7, 8, 9]
    assert "no trades 4..6" in caplog.text


def test_stop_interrupts_a_fill_without_delivering_past_the_hole() -> None:
    stop = threading.Event()
    history = History(list(range(1, 100)), page=3)

    def fetch_then_stop(symbol: str, from_id: int) -> list[Tick]:
        stop.set()
        return history(symbol, from_id)

    out: list[int] = []
    sequencer = TradeSequencer(
        {"BTCUSDT": 1}, fetch_then_stop, lambda t: out.append(int(t.trade_id)), 3, stop
    )
    sequencer.accept(trade(50))
    assert out == [2, 3, 4]  # one page, then stop; trade 50 is not delivered
    assert sequencer.last_ids["BTCUSDT"] == 4


def test_symbols_are_sequenced_independently() -> None:
    sequencer, out = make(History([]), None)
    sequencer.last_ids["ETHUSDT"] = 100
    sequencer.accept(trade(5))
    sequencer.accept(trade(100, "ETHUSDT"))
    sequencer.accept(trade(101, "ETHUSDT"))
    sequencer.accept(trade(6))
    assert out == [5, 101, 6]


def test_a_venue_that_serves_no_old_trades_leaves_the_hole_and_keeps_going() -> None:
    calls: list[int] = []

    def refused(symbol: str, from_id: int) -> None:
        calls.append(from_id)  # and None: historicalTrades refused for good

    out: list[int] = []
    sequencer = TradeSequencer(
        {"BTCUSDT": 10}, refused, lambda t: out.append(int(t.trade_id)), 3, threading.Event()
    )
    assert sequencer.catch_up("BTCUSDT") == 0
    sequencer.accept(trade(15))
    sequencer.accept(trade(16))
    assert out == [15, 16]
    assert calls == [11, 11], "one attempt per hole, no lagging retries"
