"""A whole market against the fake exchange: thousands of symbols, many connections, Binance's limits.

The fake enforces what Binance documents for spot WebSocket streams (1,024 streams per connection and
5 incoming messages a second, both closing with 1008), counts connection attempts and drops connections
one at a time, so these tests show the stream staying inside the limits rather than assume it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import websocket

from mdtool.adapters.binance.pacing import SlidingWindow
from mdtool.adapters.binance.rest import BinanceRest
from mdtool.adapters.binance.stream import BinanceTradeStream
from mdtool.errors import UsageError
from mdtool.records import Tick
from mdtool.selection import Selection
from mdtool.sources import StreamStatus
from tests.fakes.binance import FakeBinance
from tests.waiting import wait_for

LISTED = datetime(2017, 8, 17, tzinfo=UTC)


def market(count: int, quote: str = "USDT") -> dict[str, datetime]:
    return {f"S{i:04d}{quote}": LISTED for i in range(count)}


class Running:
    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.status = StreamStatus()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.stream: BinanceTradeStream | None = None

    def symbols(self) -> set[str]:
        return {t.symbol for t in list(self.ticks)}

    def ids(self, symbol: str) -> list[int]:
        return [int(t.trade_id) for t in list(self.ticks) if t.symbol == symbol]


@contextmanager
def streaming(fake: FakeBinance, selection: Selection, **options: object) -> Iterator[Running]:
    rest = BinanceRest(fake.base_url, timeout=5, backoff=0.01, backoff_cap=0.05)
    settings: dict[str, object] = {"silence_timeout": 5.0, "backoff": 0.02, "backoff_cap": 0.1, **options}
    stream = BinanceTradeStream(rest, fake.stream_url, lambda _s: None, **settings)  # type: ignore[arg-type]
    running = Running()
    running.stream = stream

    def target() -> None:
        try:
            stream.run(selection, running.ticks.extend, running.stop, running.status)
        except BaseException as exc:
            running.error = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.stop.set()
        thread.join(timeout=15)
        assert not thread.is_alive(), "run() did not return promptly after stop"


def all_subscribed(fake: FakeBinance, symbols: list[str]) -> Callable[[], bool]:
    return lambda: (
        sum(fake.connection_streams()) >= len(symbols)
        and all(fake.subscribed(f"{s.lower()}@trade") for s in symbols)
    )


def test_thousands_of_symbols_spread_over_connections_within_the_limits() -> None:
    symbols = sorted(market(2500))
    with (
        FakeBinance(symbols=market(2500)) as fake,
        streaming(fake, Selection(every_listed=True), streams_per_connection=1000) as run,
    ):
        wait_for(all_subscribed(fake, symbols), what="2,500 subscriptions")
        assert sorted(fake.connection_streams()) == [500, 1000, 1000]
        for symbol in symbols:
            fake.emit(symbol, 1)
        wait_for(lambda: len(run.ticks) >= 2500, what="one trade of every symbol")
        assert run.symbols() == set(symbols)
        assert fake.policy_closes == 0
        assert fake.connects == 3
        wait_for(lambda: run.status.connections_up == 3)
        with run.status.lock:
            assert (run.status.connections_total, run.status.symbols) == (3, 2500)


def test_one_connection_dropping_leaves_the_others_alone_and_its_gap_is_filled() -> None:
    symbols = sorted(market(30))
    with (
        FakeBinance(symbols=market(30)) as fake,
        streaming(fake, Selection(every_listed=True), streams_per_connection=10) as run,
    ):
        wait_for(all_subscribed(fake, symbols), what="subscriptions")
        for symbol in symbols:
            fake.emit(symbol, 2)
        wait_for(lambda: len(run.ticks) >= 60)
        victim = symbols[0]
        assert fake.drop_connection(f"{victim.lower()}@trade") == 1
        for symbol in symbols:
            fake.emit(symbol, 3)  # the dropped connection's ten symbols miss these
        wait_for(all_subscribed(fake, symbols), what="the dropped connection back")
        wait_for(lambda: len(run.ticks) >= 150, what="every trade, the missed ones over REST")
        assert fake.connects == 4, "only the dropped connection reconnected"
        for symbol in symbols:
            assert sorted(run.ids(symbol)) == [1, 2, 3, 4, 5]
        with run.status.lock:
            assert run.status.reconnects == 1
        assert fake.violations == 0
        assert fake.policy_closes == 0


def test_listing_changes_subscribe_new_and_unsubscribe_halted_symbols(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="mdtool.adapters.binance.refresh")
    symbols = market(5) | market(2, "BTC")
    with (
        FakeBinance(symbols=symbols) as fake,
        streaming(fake, Selection(quote="USDT"), refresh_interval=0.3) as run,
    ):
        wait_for(all_subscribed(fake, sorted(market(5))))
        assert not fake.subscribed("s0000btc@trade"), "--quote USDT leaves BTC-quoted symbols out"
        fake.list_symbol("NEWUSDT")
        fake.list_symbol("S0001USDT", status="BREAK")  # halted
        fake.delist("S0002USDT")
        wait_for(lambda: fake.subscribed("newusdt@trade"), what="the new symbol subscribed")
        wait_for(lambda: not fake.subscribed("s0001usdt@trade"), what="the halted symbol unsubscribed")
        wait_for(lambda: not fake.subscribed("s0002usdt@trade"), what="the delisted symbol unsubscribed")
        fake.emit("NEWUSDT", 2)
        wait_for(lambda: run.ids("NEWUSDT") == [1, 2])
        assert fake.policy_closes == 0
    assert "subscribing 1 new symbols: NEWUSDT" in caplog.text
    assert "unsubscribing 2 halted or delisted symbols: S0001USDT, S0002USDT" in caplog.text


def test_a_shard_keeps_its_hash_share() -> None:
    symbols = market(40)
    with FakeBinance(symbols=symbols) as fake:
        shares = []
        for index in (1, 2):
            selection = Selection.from_arguments([], every_listed=True, shard=f"{index}/2")
            mine = sorted(s for s in symbols if selection.shard is not None and selection.shard.owns(s))
            with streaming(fake, selection) as run:
                wait_for(all_subscribed(fake, mine))
                wait_for(lambda: run.status.symbols == len(mine))  # noqa: B023 - waited on at once
            shares.append(set(mine))
        assert shares[0] & shares[1] == set()
        assert shares[0] | shares[1] == set(symbols)


def test_a_pattern_that_matches_nothing_is_a_usage_error() -> None:
    with (
        FakeBinance(symbols=market(3)) as fake,
        streaming(fake, Selection.from_arguments(["NOPE*"])) as run,
    ):
        wait_for(lambda: run.error is not None, what="the error")
    assert isinstance(run.error, UsageError)
    assert "matches no symbol" in str(run.error)


def test_subscriptions_are_paced_under_five_messages_a_second() -> None:
    symbols = sorted(market(1024))
    with (
        FakeBinance(symbols=market(1024)) as fake,
        streaming(fake, Selection(every_listed=True), streams_per_connection=1024) as run,
    ):
        wait_for(all_subscribed(fake, symbols), what="1,024 streams on one connection")
        assert fake.connection_streams() == [1024]
        assert fake.policy_closes == 0
        assert run.error is None


# --- the fake enforces Binance's limits as Binance does -------------------------------------------


def closed_with(ws: websocket.WebSocket) -> int | None:
    """The close code the server sent, or None when the socket is still open after a moment."""
    ws.settimeout(5)
    try:
        while True:
            opcode, data = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return int.from_bytes(data[:2], "big")
    except (websocket.WebSocketConnectionClosedException, OSError):
        return None


def test_fake_closes_with_1008_above_1024_streams() -> None:
    with FakeBinance(symbols=market(1100)) as fake:
        ws = websocket.create_connection(f"{fake.stream_url}/stream")
        streams = [f"s{i:04d}usdt@trade" for i in range(1025)]
        ws.send('{"method":"SUBSCRIBE","params":["' + '","'.join(streams) + '"],"id":1}')
        assert closed_with(ws) == 1008
        assert fake.policy_closes == 1


def test_fake_closes_with_1008_above_five_messages_a_second() -> None:
    with FakeBinance() as fake:
        ws = websocket.create_connection(f"{fake.stream_url}/stream")
        for i in range(6):
            ws.send(f'{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}')
        assert closed_with(ws) == 1008
        assert fake.policy_closes == 1
        assert fake.attempts_within(60) == 1


def test_fake_publisher_follows_subscription_changes() -> None:
    """The benchmark publisher routes trades by the subscriptions of the moment, however they change."""
    with FakeBinance(symbols=market(3), trade_rate=50.0, keep_history=False) as fake:
        ws = websocket.create_connection(f"{fake.stream_url}/stream", timeout=5)

        def streams_seen(count: int) -> set[str]:
            seen: set[str] = set()
            for _ in range(count):
                message = json.loads(ws.recv())
                seen.add(message.get("stream", "reply"))
            return seen

        ws.send('{"method":"SUBSCRIBE","params":["s0000usdt@trade"],"id":1}')
        assert streams_seen(40) <= {"s0000usdt@trade", "reply"}
        ws.send('{"method":"SUBSCRIBE","params":["s0001usdt@trade"],"id":2}')
        ws.send('{"method":"UNSUBSCRIBE","params":["s0000usdt@trade"],"id":3}')
        streams_seen(80)  # what was in flight before the change
        assert streams_seen(40) == {"s0001usdt@trade"}
        ws.close()


def test_connection_attempts_are_paced_process_wide() -> None:
    symbols = market(8)
    with (
        FakeBinance(symbols=symbols) as fake,
        streaming(
            fake, Selection(every_listed=True), streams_per_connection=2, attempts=SlidingWindow(2, 60.0)
        ) as run,
    ):
        wait_for(lambda: run.status.connections_up == 2, what="the two connections the pacer allows")
        time.sleep(0.5)  # give the other two every chance to (wrongly) connect
        assert fake.attempts_within(60) == 2
        with run.status.lock:
            assert (run.status.connections_up, run.status.connections_total) == (2, 4)


def test_connections_roll_over_before_the_age_limit_one_at_a_time_and_lose_nothing() -> None:
    symbols = sorted(market(6))
    with (
        FakeBinance(symbols=market(6)) as fake,
        streaming(
            fake, Selection(every_listed=True), streams_per_connection=2, max_connection_age=1.5
        ) as run,
    ):
        wait_for(all_subscribed(fake, symbols))
        assert run.stream is not None and run.stream.pool is not None
        limits = [slot.age_limit for slot in run.stream.pool.slots]
        assert limits == sorted(limits, reverse=True) and len(set(limits)) == 3, "staggered by index"
        for _ in range(3):
            for symbol in symbols:
                fake.emit(symbol, 2)
            time.sleep(0.6)
        wait_for(lambda: fake.connects >= 6, what="every connection rolled over")
        wait_for(all_subscribed(fake, symbols))
        for symbol in symbols:
            fake.emit(symbol, 1)
        wait_for(lambda: len(run.ticks) >= 6 * 7, what="every trade")
        for symbol in symbols:
            assert sorted(run.ids(symbol)) == list(range(1, 8))
