"""Tick streaming through the real ib_async: wire timestamps, ids, quotes, drops, restarts, 1101."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import pytest

from mdtool.adapters.ibkr import ContractSpec, Endpoint, IbkrTickStream, StreamOptions
from mdtool.errors import UsageError
from mdtool.records import Tick
from mdtool.sources import StreamStatus
from tests.adapters.ibkr.conftest import CONTRACTS
from tests.fakes.ib_gateway import FakeIBGateway

FAST = StreamOptions(
    connect_timeout=2, request_timeout=3, backoff_initial=0.05, backoff_max=0.2, poll_seconds=0.01
)
EPOCH = 1767711600  # 2026-01-06 15:00:00 UTC


class Running:
    """A stream on its own thread, with the ticks it delivered."""

    def __init__(self, stream: IbkrTickStream, symbols: list[str]) -> None:
        self.ticks: list[Tick] = []
        self.status = StreamStatus()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(stream, symbols), daemon=True)
        self._thread.start()

    def _run(self, stream: IbkrTickStream, symbols: list[str]) -> None:
        try:
            stream.run(symbols, self._sink, self.stop, self.status)
        except BaseException as error:
            self.error = error
        finally:
            with self._cond:
                self._cond.notify_all()

    def _sink(self, ticks: Sequence[Tick]) -> None:
        with self._cond:
            self.ticks.extend(ticks)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll with a deadline: status changes come without a notification, ticks with one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate() and self._thread.is_alive():
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out; status: {self.status.message}")
                self._cond.wait(0.01)
        assert predicate(), f"stream ended: {self.error!r}"

    def finish(self, timeout: float = 5.0) -> None:
        self.stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "stream did not stop"


@pytest.fixture
def gateway() -> Iterator[FakeIBGateway]:
    with FakeIBGateway(CONTRACTS) as fake:
        yield fake


def start(gateway: FakeIBGateway, symbols: list[str], bid_ask: bool = False, **spec: object) -> Running:
    endpoint = Endpoint("127.0.0.1", gateway.port, 21)
    return Running(IbkrTickStream(endpoint, ContractSpec(**spec), bid_ask=bid_ask, options=FAST), symbols)  # type: ignore[arg-type]


def test_trades_carry_the_wire_timestamp_and_deterministic_ids(gateway: FakeIBGateway) -> None:
    running = start(gateway, ["AAPL"])
    try:
        gateway.wait_for_subscriptions(1)
        for price, size in [("189.12", "100"), ("189.12", "100"), ("189.13", "5")]:
            gateway.push_trade("AAPL", EPOCH, price, size, "ARCA")
        gateway.push_trade("AAPL", EPOCH + 1, "189.12", "100")
        running.wait_for(lambda: len(running.ticks) == 4)
    finally:
        running.finish()
    first, twin, _other, later = running.ticks
    assert first.timestamp == datetime(2026, 1, 6, 15, 0, tzinfo=UTC) and later.timestamp.second == 1
    assert {t.source for t in running.ticks} == {"ibkr.AllLast"} and {t.exchange for t in running.ticks} == {
        "ibkr"
    }
    assert (first.price, first.size, first.symbol) == (first.price.__class__("189.12"), 100, "AAPL")
    assert first.trade_id.endswith("-0") and twin.trade_id == first.trade_id[:-1] + "1"
    assert len({t.trade_id for t in running.ticks}) == 4
    assert first.payload == {"exchange": "ARCA", "conditions": ""}
    assert running.status.trades == 4 and running.status.connected
    subscription = next(iter(gateway.received))
    assert subscription  # the gateway saw the client


def test_bid_ask_ticks_store_the_bid_and_keep_the_quote(gateway: FakeIBGateway) -> None:
    running = start(gateway, ["AAPL"], bid_ask=True)
    try:
        gateway.wait_for_subscriptions(2)
        assert {s.tick_type for s in gateway.subscriptions.values()} == {"AllLast", "BidAsk"}
        gateway.push_bid_ask("AAPL", EPOCH, "189.10", "189.14", "300", "200")
        running.wait_for(lambda: len(running.ticks) == 1)
    finally:
        running.finish()
    (quote,) = running.ticks
    assert (quote.source, str(quote.price), quote.size) == ("ibkr.BidAsk", "189.1", 300)
    assert quote.payload == {"bid": "189.1", "ask": "189.14", "bid_size": "300", "ask_size": "200"}


def test_gateway_restart_mid_stream_reconnects_and_resubscribes(gateway: FakeIBGateway) -> None:
    running = start(gateway, ["AAPL", "MSFT"])
    try:
        gateway.wait_for_subscriptions(2)
        gateway.push_trade("AAPL", EPOCH, "189.12", "100")
        running.wait_for(lambda: len(running.ticks) == 1)
        gateway.stop_listening()
        running.wait_for(lambda: not running.status.connected)
        gateway.start_listening()
        gateway.wait_for_subscriptions(2)
        gateway.push_trade("AAPL", EPOCH + 5, "189.20", "7")
        # The hole's fill may deliver the first trade again (stored once: same key), so look for the new one.
        running.wait_for(lambda: any(str(t.price) == "189.2" for t in running.ticks))
        assert {str(t.price) for t in running.ticks} == {"189.12", "189.2"}
        assert running.status.connected and running.status.reconnects >= 1
        assert "resubscribed" in running.status.message
    finally:
        running.finish()
    assert gateway.connections_total >= 2


def test_gateway_down_at_start_is_retried_with_a_status_message() -> None:
    with FakeIBGateway(CONTRACTS) as fake:
        fake.stop_listening()
        running = start(fake, ["AAPL"])
        try:
            running.wait_for(lambda: "retrying" in running.status.message)
            assert "cannot connect to IB Gateway/TWS" in running.status.message
            assert not running.status.connected
            fake.start_listening()
            fake.wait_for_subscriptions(1)
            running.wait_for(lambda: running.status.connected)
        finally:
            running.finish()
        assert running.error is None


@pytest.mark.parametrize("code", [1101, 1102])
def test_connectivity_restored_renews_subscriptions(gateway: FakeIBGateway, code: int) -> None:
    running = start(gateway, ["AAPL"])
    try:
        gateway.wait_for_subscriptions(1)
        (old,) = gateway.subscriptions
        gateway.send_error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost.")
        running.wait_for(lambda: not running.status.connected)
        gateway.send_error(-1, code, "Connectivity between IB and Trader Workstation has been restored.")
        gateway.wait_until(lambda: len(gateway.subscriptions) == 1 and old not in gateway.subscriptions)
        gateway.push_trade("AAPL", EPOCH, "189.12", "100")
        running.wait_for(lambda: len(running.ticks) == 1)
        assert running.status.connected
    finally:
        running.finish()
    assert any(fields[:2] == ["98", str(old[1])] for _, fields in gateway.received)


def test_unknown_symbol_ends_the_stream_with_a_usage_error(gateway: FakeIBGateway) -> None:
    running = start(gateway, ["NOPE"])
    running.wait_for(lambda: running.error is not None)
    running.finish()
    assert isinstance(running.error, UsageError)


@pytest.mark.parametrize("silent", [71, 9], ids=["handshake", "contract-details"])
def test_stop_is_prompt_while_the_gateway_does_not_answer(gateway: FakeIBGateway, silent: int) -> None:
    """SIGINT/SIGTERM must not wait for a connect or contract lookup timeout before the flush."""
    gateway.ignore = {silent}
    slow = StreamOptions(connect_timeout=30, request_timeout=30, poll_seconds=0.01)
    running = Running(
        IbkrTickStream(Endpoint("127.0.0.1", gateway.port, 21), ContractSpec(), options=slow), ["AAPL"]
    )
    gateway.wait_until(lambda: any(int(fields[0]) == silent for _, fields in gateway.received))
    started = time.monotonic()
    running.finish(timeout=5)
    assert time.monotonic() - started < 1
    assert running.error is None


def test_reconnect_attempts_stay_frequent() -> None:
    """After a long outage the next attempt must come soon after the gateway is back (IB's Watchdog
    retries every 2 s); a 30 s backoff let a restarted gateway wait half a minute for its subscribers."""
    assert StreamOptions().backoff_max <= 5
