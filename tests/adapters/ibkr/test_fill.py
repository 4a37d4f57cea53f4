"""Gap fill after reconnects: what the gateway produced while the stream was away is stored exactly once.

The fake's tape holds every trade and quote it produced, delivered or not; after a reconnect the stream
must end up with exactly the tape in the database (no hole, no duplicate), including seconds that both
the live feed and the historical fill saw in part. Pacing windows are IB's scaled down 50x, and the
stream's clock is the tape's, so "a second is over" is decided by the test, not by the wall clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from mdtool.adapters.ibkr import ContractSpec, Endpoint, IbkrTickStream, StreamOptions
from mdtool.errors import UsageError
from mdtool.records import Tick, normalize_decimal
from mdtool.sources import StreamStatus
from mdtool.storage.queries import ticks_between
from mdtool.stream import StreamSummary, run_stream
from tests.adapters.ibkr.conftest import CONTRACTS, client_pacing, gateway_pacing
from tests.adapters.ibkr.test_stream import Running
from tests.fakes.ib_gateway import FakeContract, FakeIBGateway

E = 1767711600  # 2026-01-06 15:00:00 UTC


class TapeClock:
    """The stream's wall clock, moved by the test along with the tape."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gateway() -> Iterator[FakeIBGateway]:
    with FakeIBGateway(CONTRACTS, pacing=gateway_pacing()) as fake:
        yield fake
        assert fake.violations == []


def options(clock: TapeClock) -> StreamOptions:
    return StreamOptions(
        connect_timeout=2, request_timeout=3, backoff_initial=0.05, backoff_max=0.2, poll_seconds=0.01,
        pacing=client_pacing(), fill_backoff_seconds=0.05, clock=clock,
    )  # fmt: skip


def stream(gateway: FakeIBGateway, clock: TapeClock, bid_ask: bool = False) -> IbkrTickStream:
    return IbkrTickStream(
        Endpoint("127.0.0.1", gateway.port, 31), ContractSpec(), bid_ask=bid_ask, options=options(clock)
    )


class Streaming:
    """`run_stream` into a real database on its own thread."""

    def __init__(self, engine: Engine, tick_stream: IbkrTickStream, symbols: list[str]) -> None:
        self.stop = threading.Event()
        self.summary: StreamSummary | None = None
        self.error: BaseException | None = None
        self.status_seen: list[tuple[int, int]] = []
        self._thread = threading.Thread(target=self._run, args=(engine, tick_stream, symbols), daemon=True)
        self._thread.start()

    def _run(self, engine: Engine, tick_stream: IbkrTickStream, symbols: list[str]) -> None:
        def on_status(status: StreamStatus, _writer: object) -> None:
            self.status_seen.append((status.trades, status.gaps_filled))

        try:
            self.summary = run_stream(
                engine, tick_stream, symbols, on_status=on_status, status_every=0.01, stop=self.stop,
                flush_interval=0.02,
            )  # fmt: skip
        except BaseException as error:
            self.error = error

    def wait(self, predicate: Callable[[], object], timeout: float = 10.0) -> None:
        """Poll with a deadline (status counters come without a notification)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self._thread.is_alive(), f"stream ended: {self.error!r}"
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.01)

    def finish(self) -> StreamSummary:
        self.stop.set()
        self._thread.join(20)
        assert not self._thread.is_alive() and self.error is None, self.error
        assert self.summary is not None
        return self.summary


def trades(stored: list[Tick]) -> Counter[tuple[datetime, str, str]]:
    return Counter((t.timestamp, str(t.price), str(t.size)) for t in stored)


def produced(gateway: FakeIBGateway, symbol: str = "AAPL") -> Counter[tuple[datetime, str, str]]:
    return Counter(
        (
            datetime.fromtimestamp(t.epoch, UTC),
            str(normalize_decimal(Decimal(t.price))),
            str(normalize_decimal(Decimal(t.size))),
        )
        for t in gateway.tape.trades[symbol]
    )


def test_outage_overlapping_live_data_stores_no_duplicate_and_no_hole(
    gateway: FakeIBGateway, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mdtool")
    clock = TapeClock(E + 1.5)
    running = Streaming(engine, stream(gateway, clock), ["AAPL"])
    gateway.wait_for_subscriptions(1)
    for epoch, price in [(E, "10.00"), (E, "10.00"), (E, "10.01"), (E + 1, "10.02")]:
        gateway.push_trade("AAPL", epoch, price, "100")
    running.wait(lambda: running.status_seen and running.status_seen[-1][0] >= 4)

    gateway.stop_listening()  # the gateway restarts; the tape runs on
    gateway.push_trade("AAPL", E + 1, "10.02", "100")  # twin of a trade seen live in the same second
    for i in range(2500):  # 500 trades a second for 5 s: three pages of historical ticks
        gateway.push_trade("AAPL", E + 2 + i // 500, f"10.{i % 7}", str(1 + i % 3))
    gateway.push_trade("AAPL", E + 7, "11.00", "5")
    clock.now = E + 7.5
    gateway.start_listening()
    gateway.wait_for_subscriptions(1)

    gateway.push_trade("AAPL", E + 7, "11.00", "5")  # live again: the rest of second E+7 ...
    gateway.push_trade("AAPL", E + 8, "11.01", "5")  # ... and a new second
    clock.now = E + 10
    running.wait(lambda: running.status_seen and running.status_seen[-1][1] >= 1)
    summary = running.finish()

    stored = ticks_between(
        engine, "ibkr", "AAPL", datetime.fromtimestamp(E, UTC), datetime.fromtimestamp(E + 60, UTC)
    )
    assert len(stored) == 2508 == sum(produced(gateway).values())
    assert trades(stored) == produced(gateway)
    assert {t.source for t in stored} == {"ibkr.AllLast"}
    assert summary.gaps_filled == 1 and summary.reconnects >= 1
    assert "no historical twin" not in caplog.text
    assert "filled AAPL AllLast from 2026-01-06T15:00:01Z" in caplog.text


def test_connectivity_lost_then_restored_fills_what_ib_did_not_deliver(gateway: FakeIBGateway) -> None:
    """1100 ... 1101: the socket stays up, but what happened in between comes only from history."""
    clock = TapeClock(E + 0.5)
    running = Running(stream(gateway, clock), ["AAPL"])
    try:
        gateway.wait_for_subscriptions(1)
        gateway.push_trade("AAPL", E, "10", "1")
        running.wait_for(lambda: len(running.ticks) == 1)
        gateway.send_error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost.")
        running.wait_for(lambda: not running.status.connected)
        for n in range(3):
            gateway.push_trade("AAPL", E + 1 + n, "10", "1", deliver=False)
        gateway.push_trade("AAPL", E + 4, "10", "1", deliver=False)
        (old,) = gateway.subscriptions
        clock.now = E + 4.5
        gateway.send_error(
            -1, 1101, "Connectivity between IB and Trader Workstation has been restored - data lost."
        )
        gateway.wait_until(lambda: len(gateway.subscriptions) == 1 and old not in gateway.subscriptions)
        gateway.push_trade("AAPL", E + 4, "10", "1")  # the second identical trade of E+4, seen live
        clock.now = E + 7
        running.wait_for(lambda: running.status.gaps_filled >= 1)
    finally:
        running.finish()
    rows = {(t.timestamp, t.trade_id) for t in running.ticks}
    assert len(rows) == 6  # E, E+1..E+3 from history, E+4 twice (one live, one only in history)
    assert Counter(moment.second for moment, _ in rows) == {0: 1, 1: 1, 2: 1, 3: 1, 4: 2}


def test_quotes_are_filled_too_with_bid_ask(gateway: FakeIBGateway) -> None:
    clock = TapeClock(E + 0.5)
    running = Running(stream(gateway, clock, bid_ask=True), ["AAPL"])
    try:
        gateway.wait_for_subscriptions(2)
        gateway.push_bid_ask("AAPL", E, "10.00", "10.02", "300", "200")
        running.wait_for(lambda: len(running.ticks) == 1)
        gateway.stop_listening()
        gateway.push_bid_ask("AAPL", E + 1, "10.01", "10.03", "100", "200", mask=2)
        clock.now = E + 5
        gateway.start_listening()
        gateway.wait_for_subscriptions(2)
        gateway.push_bid_ask("AAPL", E + 4, "10.01", "10.04", "100", "200")
        clock.now = E + 7
        running.wait_for(lambda: running.status.gaps_filled >= 1)  # AllLast's fill waits for a live trade
    finally:
        running.finish()
    quotes = [t for t in running.ticks if t.source == "ibkr.BidAsk"]
    assert (
        len({(t.timestamp, t.trade_id) for t in quotes}) == 3
    )  # E (twice: live + fill), E+1 filled, E+4 live
    filled = next(t for t in quotes if t.timestamp.second == 1)
    assert filled.payload == {
        "bid": "10.01",
        "ask": "10.03",
        "bid_size": "100",
        "ask_size": "200",
        "ask_past_high": True,
    }
    assert any(fields[0] == "96" and fields[18] == "BID_ASK" for _, fields in gateway.received)


def test_a_fill_ib_refuses_is_logged_with_the_repair_command(
    gateway: FakeIBGateway, caplog: pytest.LogCaptureFixture
) -> None:
    clock = TapeClock(E + 0.5)
    running = Running(stream(gateway, clock), ["AAPL"])
    try:
        gateway.wait_for_subscriptions(1)
        gateway.push_trade("AAPL", E, "10", "1")
        running.wait_for(lambda: len(running.ticks) == 1)
        gateway.fail_next_historical(354, "Requested market data is not subscribed.")
        gateway.drop_connections()
        gateway.wait_until(lambda: any(f[0] == "96" for _, f in gateway.received))
        gateway.push_trade("AAPL", E + 3, "10", "1")
        running.wait_for(lambda: len(running.ticks) == 2)
    finally:
        running.finish()
    assert (
        "mdtool backfill ibkr AAPL ticks --since 2026-01-06T15:00:00Z --until 2026-01-06T15:01:00Z --refetch"
        in caplog.text
    )
    assert running.error is None


def test_subscription_limit_stops_the_stream_naming_it(gateway: FakeIBGateway) -> None:
    gateway.tick_by_tick_limit = 2
    gateway.contracts.append(FakeContract(9000, "S00"))
    running = Running(stream(gateway, TapeClock(E)), ["AAPL", "MSFT", "S00"])
    running.wait_for(lambda: running.error is not None)
    running.finish()
    assert isinstance(running.error, UsageError)
    message = str(running.error)
    assert "error 10190" in message and "Max number of tick-by-tick requests" in message
    assert "needs 3 simultaneous tick-by-tick subscriptions" in message


def test_unknown_symbols_are_all_named_before_anything_is_subscribed(gateway: FakeIBGateway) -> None:
    running = Running(stream(gateway, TapeClock(E)), ["AAPL", "NOPE", "MSFT", "NADA"])
    running.wait_for(lambda: running.error is not None)
    running.finish()
    assert isinstance(running.error, UsageError)
    assert (
        "2 symbols refused" in str(running.error)
        and "NOPE" in str(running.error)
        and "NADA" in str(running.error)
    )
    assert not any(fields[0] == "97" for _, fields in gateway.received)


def test_many_symbols_qualify_and_stream(gateway: FakeIBGateway) -> None:
    gateway.contracts.extend(FakeContract(9000 + n, f"S{n:02d}") for n in range(40))
    running = Running(stream(gateway, TapeClock(E)), [f"S{n:02d}" for n in range(40)])
    try:
        gateway.wait_for_subscriptions(40)
        for n in range(40):
            gateway.push_trade(f"S{n:02d}", E, "1", "1")
        running.wait_for(lambda: len(running.ticks) == 40)
    finally:
        running.finish()
    assert {t.symbol for t in running.ticks} == {f"S{n:02d}" for n in range(40)}
