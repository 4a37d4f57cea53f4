"""Trade-id sequencing and the gap filler on their own, with an in-memory history standing in for REST.

Live trades are never held up by a hole: the sequencer delivers them at once and queues the hole; the
filler delivers the missing trades later, exactly once, biggest hole first, and records what it cannot
fill (refused, not served, out of patience, stopped) instead of dropping it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from mdtool.adapters.binance.gapfill import GapFiller
from mdtool.adapters.binance.rest import BinanceRefused
from mdtool.adapters.binance.sequence import Hole, TradeSequencer
from mdtool.errors import UsageError
from mdtool.records import Tick

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def trade(trade_id: int, symbol: str = "BTCUSDT") -> Tick:
    return Tick(
        "binance", symbol, T0 + timedelta(seconds=trade_id), "trade", str(trade_id), "1.5", "2", "buy"
    )


class History:
    """What REST would serve: trades with the given ids, `page` at a time, from `fromId` upward."""

    def __init__(self, ids: list[int], page: int = 3) -> None:
        self.ids = ids
        self.page = page
        self.calls: list[tuple[str, int]] = []

    def __call__(self, symbol: str, from_id: int, limit: int) -> list[Tick]:
        self.calls.append((symbol, from_id))
        return [trade(i, symbol) for i in self.ids if i >= from_id][: min(limit, self.page)]


class Harness:
    """A sequencer and a filler wired together, collecting deliveries and recorded holes."""

    def __init__(self, history: History, last: dict[str, int | None], patience: float = 900.0) -> None:
        self.out: list[tuple[str, int]] = []
        self.recorded: list[tuple[str, int | None, int | None, str]] = []
        self.marked: list[Hole] = []
        self.filled = 0
        self.stop = threading.Event()
        self.sequencer = TradeSequencer(
            last,
            lambda ticks: self.out.extend((t.symbol, int(t.trade_id)) for t in ticks),
            lambda h: self.filler.add(h),
        )
        self.filler = GapFiller(
            self.sequencer,
            history,
            self.stop,
            record=lambda symbol, first, last, _b, _a, reason: self.recorded.append(
                (symbol, first, last, reason)
            ),
            on_filled=self.count,
            on_recorded_hole_filled=self.marked.append,
            page_size=history.page,
            patience=patience,
        )

    def count(self, n: int) -> None:
        self.filled += n

    def ids(self, symbol: str = "BTCUSDT") -> list[int]:
        return [i for s, i in self.out if s == symbol]

    def drain(self, limit: int = 100) -> None:
        for _ in range(limit):
            if not self.filler.step():
                return
        raise AssertionError("the filler never ran out of work")


def test_first_trade_without_history_is_delivered_as_is() -> None:
    h = Harness(History([]), {"BTCUSDT": None})
    h.sequencer.reconnected(["BTCUSDT"])
    h.sequencer.accept(trade(42))
    h.sequencer.accept(trade(43))
    assert h.ids() == [42, 43]
    assert h.filler.pending == 0


def test_duplicates_are_dropped() -> None:
    h = Harness(History([]), {"BTCUSDT": 10})
    for i in (9, 10, 11, 11, 12, 10):
        h.sequencer.accept(trade(i))
    assert h.ids() == [11, 12]
    assert h.sequencer.duplicates == 4


def test_live_trade_goes_first_and_the_hole_follows_across_pages() -> None:
    history = History(list(range(1, 30)), page=3)
    h = Harness(history, {"BTCUSDT": 5})
    h.sequencer.accept(trade(20))
    assert h.ids() == [20], "the live trade is not held up by the hole"
    assert h.filler.pending == 1
    h.drain()
    assert sorted(h.ids()) == list(range(6, 21))
    assert len(h.ids()) == 15
    assert [from_id for _, from_id in history.calls] == [6, 9, 12, 15, 18]
    assert h.filled == 14
    assert h.recorded == []


def test_catch_up_after_a_reconnect_reads_until_a_short_page() -> None:
    history = History(list(range(1, 12)), page=3)
    h = Harness(history, {"BTCUSDT": 4})
    h.sequencer.reconnected(["BTCUSDT"])
    h.drain()
    assert h.ids() == list(range(5, 12))
    h.sequencer.accept(trade(11))
    h.sequencer.accept(trade(12))
    assert h.ids()[-1] == 12
    assert h.ids().count(11) == 1


def test_a_live_trade_closes_the_catch_up_and_the_rest_becomes_a_hole() -> None:
    history = History(list(range(1, 40)), page=3)
    h = Harness(history, {"BTCUSDT": 4})
    h.sequencer.reconnected(["BTCUSDT"])
    h.filler.step()  # 5, 6, 7 over REST
    h.sequencer.accept(trade(30))  # live: 8..29 are now a closed hole
    h.drain()
    assert sorted(h.ids()) == list(range(5, 31))
    assert len(h.ids()) == 26


def test_ids_binance_does_not_serve_are_recorded_and_crossed() -> None:
    history = History([1, 2, 3, 7, 8, 9], page=10)
    h = Harness(history, {"BTCUSDT": 2})
    h.sequencer.accept(trade(9))
    h.drain()
    assert sorted(h.ids()) == [3, 7, 8, 9]
    assert h.recorded == [("BTCUSDT", 4, 6, "Binance no longer serves these trades")]


def test_stop_records_the_holes_still_queued() -> None:
    history = History(list(range(1, 100)), page=3)
    h = Harness(history, {"BTCUSDT": 1})
    h.sequencer.accept(trade(50))
    h.filler.step()  # 2, 3, 4
    h.stop.set()
    h.filler.run()  # returns at once and records what is left
    assert h.recorded == [("BTCUSDT", 5, 49, "the stream stopped before the hole was filled")]


def test_symbols_are_sequenced_independently() -> None:
    h = Harness(History([]), {"BTCUSDT": None, "ETHUSDT": 100})
    h.sequencer.accept(trade(5))
    h.sequencer.accept(trade(100, "ETHUSDT"))
    h.sequencer.accept(trade(101, "ETHUSDT"))
    h.sequencer.accept(trade(6))
    assert h.out == [("BTCUSDT", 5), ("ETHUSDT", 101), ("BTCUSDT", 6)]


def test_the_biggest_hole_is_filled_first() -> None:
    history = History(list(range(1, 200)), page=1000)
    h = Harness(history, {"AAAUSDT": 10, "BBBUSDT": 10, "CCCUSDT": 10})
    h.sequencer.accept(trade(15, "AAAUSDT"))
    h.sequencer.accept(trade(150, "BBBUSDT"))
    h.sequencer.accept(trade(40, "CCCUSDT"))
    h.drain()
    assert [symbol for symbol, _ in history.calls] == ["BBBUSDT", "CCCUSDT", "AAAUSDT"]


def test_a_venue_that_refuses_old_trades_records_every_hole_and_live_goes_on() -> None:
    calls: list[int] = []

    def refused(symbol: str, from_id: int, limit: int) -> list[Tick]:
        calls.append(from_id)
        raise BinanceRefused("Binance refused historical_trades (HTTP 401)")

    h = Harness(History([]), {"BTCUSDT": 10, "ETHUSDT": 20})
    h.filler._fetch = refused
    h.sequencer.accept(trade(15))
    h.sequencer.accept(trade(25, "ETHUSDT"))
    h.drain()
    h.sequencer.accept(trade(16))
    h.sequencer.accept(trade(18))  # a later hole is recorded at once, without asking again
    assert h.ids() == [15, 16, 18]
    assert calls == [21], "one refusal is enough (the most recent of equal holes was tried first)"
    assert [(s, a, b) for s, a, b, _ in h.recorded] == [
        ("ETHUSDT", 21, 24),
        ("BTCUSDT", 11, 14),
        ("BTCUSDT", 17, 17),
    ]


def test_a_hole_that_waits_past_its_patience_is_recorded() -> None:
    h = Harness(History(list(range(1, 50)), page=3), {"BTCUSDT": 1}, patience=0.0)
    h.sequencer.accept(trade(20))
    h.drain()
    assert h.ids() == [20]
    ((symbol, first, last, reason),) = h.recorded
    assert (symbol, first, last) == ("BTCUSDT", 2, 19)
    assert "budget" in reason


def test_a_recorded_hole_that_fills_is_marked() -> None:
    h = Harness(History(list(range(1, 50)), page=10), {"BTCUSDT": 40})
    hole = Hole("BTCUSDT", 5, 12, T0, T0)
    hole.recorded = True
    h.filler.add(hole)
    h.drain()
    assert h.ids() == list(range(5, 13))
    assert h.marked == [hole]


def test_a_symbol_gone_mid_fill_is_recorded_and_the_filler_goes_on() -> None:
    history = History(list(range(1, 30)), page=10)
    h = Harness(history, {"GONEUSDT": 1, "BTCUSDT": 1})

    def fetch(symbol: str, from_id: int, limit: int) -> list[Tick]:
        if symbol == "GONEUSDT":
            raise UsageError("unknown Binance symbol 'GONEUSDT'")
        return history(symbol, from_id, limit)

    h.filler._fetch = fetch
    h.sequencer.accept(trade(20, "GONEUSDT"))
    h.sequencer.accept(trade(5))
    h.drain()
    assert sorted(h.ids()) == [2, 3, 4, 5]
    assert [(s, a, b) for s, a, b, _ in h.recorded] == [("GONEUSDT", 2, 19)]
