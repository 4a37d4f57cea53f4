"""The live trade stream against the fake exchange: combined socket, reconnects and REST gap fill."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from mdtool.adapters.binance.rest import BinanceRest
from mdtool.adapters.binance.stream import BinanceTradeStream
from mdtool.errors import UsageError
from mdtool.records import Tick
from mdtool.sources import StreamStatus
from tests.fakes.binance import FakeBinance
from tests.waiting import wait_for


class Running:
    """A stream running on a thread, collecting what reaches the sink."""

    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.status = StreamStatus()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def ids(self, symbol: str = "BTCUSDT") -> list[int]:
        return [int(t.trade_id) for t in list(self.ticks) if t.symbol == symbol]

    def wait_count(self, count: int, symbol: str = "BTCUSDT") -> None:
        wait_for(lambda: len(self.ids(symbol)) >= count, what=f"{count} {symbol} trades")


@contextmanager
def streaming(
    fake: FakeBinance,
    symbols: list[str],
    last_ids: dict[str, int] | None = None,
    silence_timeout: float = 5.0,
) -> Iterator[Running]:
    rest = BinanceRest(fake.base_url, timeout=5, backoff=0.01, backoff_cap=0.05)
    stream = BinanceTradeStream(
        rest,
        fake.stream_url,
        lambda symbol: (last_ids or {}).get(symbol),
        silence_timeout=silence_timeout,
        backoff=0.02,
        backoff_cap=0.1,
    )
    running = Running()

    def target() -> None:
        try:
            stream.run(symbols, running.ticks.extend, running.stop, running.status)
        except BaseException as exc:
            running.error = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.stop.set()
        thread.join(timeout=5)
        assert not thread.is_alive(), "run() did not return promptly after stop"


def subscribed(fake: FakeBinance, *symbols: str) -> Callable[[], bool]:
    return lambda: all(fake.subscribed(f"{s.lower()}@trade") for s in symbols)


def test_one_connection_for_all_symbols_with_exact_trades(fake: FakeBinance) -> None:
    with streaming(fake, ["btcusdt", "ETHUSDT"]) as run:
        wait_for(subscribed(fake, "BTCUSDT", "ETHUSDT"), what="subscription")
        made = fake.emit("BTCUSDT", 3) + fake.emit("ETHUSDT", 2)
        run.wait_count(3)
        run.wait_count(2, "ETHUSDT")
        assert fake.connects == 1
        first = run.ticks[0]
        trade = made[0]
        assert (first.exchange, first.symbol, first.source) == ("binance", "BTCUSDT", "trade")
        assert first.trade_id == str(trade.id)
        assert first.price == Decimal(trade.price)
        assert first.size == Decimal(trade.qty)
        assert first.side == ("sell" if trade.buyer_maker else "buy")
        assert int(first.timestamp.timestamp() * 1000) == trade.time
        with run.status.lock:
            assert run.status.trades == 5
            assert run.status.connected


def test_dropped_socket_reconnects_and_fills_the_gap(fake: FakeBinance) -> None:
    with streaming(fake, ["BTCUSDT"]) as run:
        wait_for(subscribed(fake, "BTCUSDT"))
        fake.emit("BTCUSDT", 5)
        run.wait_count(5)
        fake.drop()
        fake.emit("BTCUSDT", 7)  # nobody is connected: only REST can deliver these
        wait_for(subscribed(fake, "BTCUSDT"), what="reconnect")
        run.wait_count(12)
        fake.emit("BTCUSDT", 3)
        run.wait_count(15)
        assert run.ids() == list(range(1, 16))
        with run.status.lock:
            assert run.status.reconnects >= 1
            assert run.status.gaps_filled == 7
            assert run.status.trades == 15
        assert fake.request_count("/api/v3/historicalTrades") >= 1


def test_gap_fill_honours_429_and_retries_5xx(fake: FakeBinance) -> None:
    with streaming(fake, ["BTCUSDT"]) as run:
        wait_for(subscribed(fake, "BTCUSDT"))
        fake.emit("BTCUSDT", 2)
        run.wait_count(2)
        fake.inject(429, path="/api/v3/historicalTrades", retry_after=1)
        fake.inject(503, path="/api/v3/historicalTrades")
        fake.drop()
        fake.emit("BTCUSDT", 3)
        run.wait_count(5)
        assert run.ids() == [1, 2, 3, 4, 5]
        assert fake.violations == 0


def test_start_up_fills_from_the_newest_stored_trade(fake: FakeBinance) -> None:
    fake.emit("BTCUSDT", 2500)  # more than one REST page
    with streaming(fake, ["BTCUSDT"], last_ids={"BTCUSDT": 12}) as run:
        run.wait_count(2500 - 12)
        wait_for(subscribed(fake, "BTCUSDT"))
        fake.emit("BTCUSDT", 2)
        run.wait_count(2490)
        assert run.ids() == list(range(13, 2503))


def test_hole_in_the_live_stream_is_filled_without_holding_up_the_next_trade(fake: FakeBinance) -> None:
    """The live trade after a hole is delivered at once; the hole's trades follow over REST (exactly once)."""
    with streaming(fake, ["BTCUSDT"]) as run:
        wait_for(subscribed(fake, "BTCUSDT"))
        fake.emit("BTCUSDT", 2)
        run.wait_count(2)
        with fake.lock:  # trades the socket never carried (as if frames were lost)
            fake._make_trades("BTCUSDT", 4)
        fake.emit("BTCUSDT", 1)
        run.wait_count(7)
        assert run.ids()[:2] == [1, 2]
        assert sorted(run.ids()) == list(range(1, 8))
        assert len(set(run.ids())) == len(run.ids())


def test_silent_socket_is_treated_as_dead(fake: FakeBinance) -> None:
    with streaming(fake, ["BTCUSDT"], silence_timeout=0.6) as run:
        wait_for(subscribed(fake, "BTCUSDT"))
        fake.emit("BTCUSDT", 1)
        run.wait_count(1)
        fake.silence()
        fake.emit("BTCUSDT", 4)  # swallowed by the silent socket
        wait_for(lambda: fake.connects >= 2, what="reconnect after silence")
        run.wait_count(5)
        assert run.ids() == [1, 2, 3, 4, 5]


def test_answers_pings_and_survives_the_connection_age_limit() -> None:
    with (
        FakeBinance(ping_interval=0.1, max_connection_seconds=0.8) as fake,
        streaming(fake, ["BTCUSDT"]) as run,
    ):
        wait_for(subscribed(fake, "BTCUSDT"))
        wait_for(lambda: fake.echoed_pongs >= 2, what="pongs echoing the ping payload")
        fake.emit("BTCUSDT", 3)
        wait_for(lambda: fake.connects >= 2, what="reconnect after the age limit")
        fake.emit("BTCUSDT", 3)
        run.wait_count(6)
        wait_for(subscribed(fake, "BTCUSDT"))
        fake.emit("BTCUSDT", 1)
        run.wait_count(7)
        assert run.ids()[:2] == [1, 2]
        assert sorted(run.ids()) == list(range(1, 8))
        assert len(set(run.ids())) == len(run.ids())


def test_no_duplicates_when_rest_and_socket_overlap(fake: FakeBinance) -> None:
    fake.emit("BTCUSDT", 10)
    with streaming(fake, ["BTCUSDT"], last_ids={"BTCUSDT": 3}) as run:
        wait_for(subscribed(fake, "BTCUSDT"))
        for _ in range(20):
            fake.emit("BTCUSDT", 5)
        run.wait_count(107)
        time.sleep(0.1)  # let any duplicate arrive before checking there is none
        # Live trades do not wait for the catch-up fill, so the order depends on timing; the set
        # and the count do not.
        assert sorted(run.ids()) == list(range(4, 111))
        assert len(run.ids()) == 107


def test_server_shutdown_notice_moves_to_a_new_connection(fake: FakeBinance) -> None:
    with streaming(fake, ["BTCUSDT"]) as run:
        wait_for(subscribed(fake, "BTCUSDT"))
        fake.emit("BTCUSDT", 2)
        run.wait_count(2)
        fake.announce_shutdown()
        wait_for(lambda: fake.connects >= 2, what="a new connection")
        wait_for(subscribed(fake, "BTCUSDT"))
        fake.emit("BTCUSDT", 2)
        run.wait_count(4)
        assert run.ids() == [1, 2, 3, 4]


def test_malformed_event_is_skipped_and_filled_over_rest(fake: FakeBinance) -> None:
    with streaming(fake, ["BTCUSDT"]) as run:
        wait_for(subscribed(fake, "BTCUSDT"))
        fake.emit("BTCUSDT", 2)
        run.wait_count(2)
        with fake.lock:
            (trade,) = fake._make_trades("BTCUSDT", 1)
        broken = {**trade.event("BTCUSDT"), "p": "not a price"}
        fake.broadcast({"stream": "btcusdt@trade", "data": broken})
        fake.broadcast({"stream": "btcusdt@trade", "data": "garbage"})
        fake.emit("BTCUSDT", 1)
        run.wait_count(4)
        assert sorted(run.ids()) == [1, 2, 3, 4]
        assert len(run.ids()) == 4
        (filled,) = [t for t in run.ticks if t.trade_id == "3"]
        assert filled.price == Decimal(trade.price)


def test_unknown_symbol_is_a_usage_error(fake: FakeBinance) -> None:
    with streaming(fake, ["NOPEUSDT"]) as run:
        wait_for(lambda: run.error is not None, what="error")
    assert isinstance(run.error, UsageError)


def test_reconnects_when_the_server_is_briefly_down() -> None:
    fake = FakeBinance().start()
    port = fake.server.server_address[1]
    rest_url = fake.base_url
    with streaming(fake, ["BTCUSDT"]) as run:
        wait_for(subscribed(fake, "BTCUSDT"))
        fake.emit("BTCUSDT", 2)
        run.wait_count(2)
        fake.stop()
        wait_for(lambda: run.status.reconnects >= 2, what="failed reconnect attempts")
        book = fake.trades
        fake = FakeBinance(port=port)
        fake.trades = book
        fake.emit("BTCUSDT", 1)  # made while the stream was away
        fake.start()
        assert fake.base_url == rest_url
        wait_for(subscribed(fake, "BTCUSDT"), what="reconnect to the restarted server")
        run.wait_count(3)  # the catch-up over REST; a live trade may overtake it, so wait for it first
        fake.emit("BTCUSDT", 2)
        run.wait_count(5)
        assert run.ids() == [1, 2, 3, 4, 5]
    fake.stop()


def test_stop_returns_promptly_even_from_a_silent_socket(fake: FakeBinance) -> None:
    with streaming(fake, ["BTCUSDT"], silence_timeout=30.0):
        wait_for(subscribed(fake, "BTCUSDT"))
        fake.silence()  # the close handshake will never be answered
    # the context manager asserts that run() returned within 5 s
