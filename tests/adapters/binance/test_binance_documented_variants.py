"""The adapter against servers that follow Binance's documentation in ways our default fake does not.

Each fake here differs from the default in one documented respect (streams only in the URL, only via
`SUBSCRIBE`, only raw `/ws/<stream>` endpoints, the weight header's spelling or absence, an exchange
that is down when the stream starts, `historicalTrades` behind an API key), so the adapter is shown
not to depend on one server's choices.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from mdtool.adapters.binance.connection import stream_urls
from mdtool.adapters.binance.history import BinanceBarSource
from mdtool.adapters.binance.rest import BinanceRest
from mdtool.adapters.binance.stream import BinanceTradeStream
from mdtool.errors import UsageError
from mdtool.intervals import floor_open
from mdtool.records import Tick
from mdtool.sources import StreamStatus
from tests.fakes.binance import FakeBinance
from tests.waiting import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Running:
    """A stream on a thread: what reached the sink, its status, and how it ended."""

    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.status = StreamStatus()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def ids(self) -> list[int]:
        return [int(t.trade_id) for t in list(self.ticks)]

    def wait_count(self, count: int) -> None:
        wait_for(lambda: len(self.ticks) >= count, what=f"{count} trades")


@contextmanager
def streaming(port: int, symbols: list[str], last_ids: dict[str, int] | None = None) -> Iterator[Running]:
    """`BinanceTradeStream` pointed at 127.0.0.1:`port` (whether or not anything listens there)."""
    rest = BinanceRest(f"http://127.0.0.1:{port}", timeout=5, max_retries=1, backoff=0.01, backoff_cap=0.05)
    stream = BinanceTradeStream(
        rest,
        f"ws://127.0.0.1:{port}",
        lambda symbol: (last_ids or {}).get(symbol),
        silence_timeout=5.0,
        backoff=0.02,
        backoff_cap=0.1,
    )
    running = Running()

    def target() -> None:
        try:
            stream.run(symbols, running.ticks.extend, running.stop, running.status)
        except BaseException as exc:
            running.error = exc

    running.thread = threading.Thread(target=target, daemon=True)
    running.thread.start()
    try:
        yield running
    finally:
        running.stop.set()
        running.thread.join(timeout=5)
        assert not running.thread.is_alive(), "run() did not return promptly after stop"


def port_of(fake: FakeBinance) -> int:
    port: int = fake.server.server_address[1]
    return port


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param({"subscribe_method": False}, id="url-streams-only"),
        pytest.param({"url_streams": False}, id="subscribe-method-only"),
    ],
)
def test_stream_works_with_either_documented_subscription_style(variant: dict[str, bool]) -> None:
    with FakeBinance(**variant) as fake, streaming(port_of(fake), ["BTCUSDT", "ETHUSDT"]) as run:
        wait_for(lambda: fake.subscribed("btcusdt@trade") and fake.subscribed("ethusdt@trade"))
        fake.emit("BTCUSDT", 3)
        fake.emit("ETHUSDT", 2)
        wait_for(lambda: len(run.ticks) == 5, what="5 trades")
        assert fake.connects == 1
        assert run.error is None


def test_stream_falls_back_to_the_raw_endpoint_when_combined_is_refused() -> None:
    with (
        FakeBinance(ws_paths=("/ws",), subscribe_method=False) as fake,
        streaming(port_of(fake), ["BTCUSDT"]) as run,
    ):
        wait_for(lambda: fake.subscribed("btcusdt@trade"), what="a raw /ws/<stream> connection")
        assert fake.connects == 1, "refused handshakes move on to the next URL form at once"
        fake.emit("BTCUSDT", 4)
        run.wait_count(4)
        assert run.ids() == [1, 2, 3, 4]


def test_stream_urls_name_the_streams_and_tolerate_a_path_in_the_base() -> None:
    streams = ["btcusdt@trade", "ethusdt@trade"]
    expected = [
        "wss://h:9443/stream?streams=btcusdt@trade/ethusdt@trade",
        "wss://h:9443/ws/btcusdt@trade",
        "wss://h:9443/stream",
        "wss://h:9443/ws",
    ]
    for base in ("wss://h:9443", "wss://h:9443/", "wss://h:9443/ws", "wss://h:9443/stream/"):
        assert stream_urls(base, streams) == expected


def test_stream_waits_for_an_unreachable_exchange_instead_of_exiting() -> None:
    port = free_port()
    with streaming(port, ["BTCUSDT"]) as run:
        wait_for(lambda: "unreachable" in run.status.message, what="a retry status message")
        time.sleep(0.3)  # several failed attempts later it is still waiting, not failed
        assert run.error is None
        assert run.thread is not None and run.thread.is_alive()
        with FakeBinance(port=port) as fake:
            wait_for(lambda: fake.subscribed("btcusdt@trade"), what="subscription once Binance is up")
            fake.emit("BTCUSDT", 2)
            run.wait_count(2)
    assert run.error is None


def test_unknown_symbol_still_ends_the_stream_at_once(fake: FakeBinance) -> None:
    with streaming(port_of(fake), ["BTCUSDT", "NOPEUSDT"]) as run:
        wait_for(lambda: run.error is not None, what="the usage error")
    assert isinstance(run.error, UsageError)


def test_stop_cuts_short_a_start_that_is_retrying() -> None:
    rest = BinanceRest(f"http://127.0.0.1:{free_port()}", max_retries=10, backoff=5.0, backoff_cap=5.0)
    stream = BinanceTradeStream(rest, "ws://127.0.0.1:9", lambda symbol: None)
    stop = threading.Event()
    thread = threading.Thread(target=stream.run, args=(["BTCUSDT"], print, stop, StreamStatus()))
    thread.start()
    time.sleep(0.2)  # inside the first 2.5-5 s retry backoff
    started = time.monotonic()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.0


def test_stream_keeps_flowing_when_historical_trades_need_an_api_key() -> None:
    with FakeBinance(trades_need_key=True) as fake:
        fake.emit("BTCUSDT", 10)  # stored before; REST would have to fill 6..10
        with streaming(port_of(fake), ["BTCUSDT"], last_ids={"BTCUSDT": 5}) as run:
            wait_for(lambda: fake.subscribed("btcusdt@trade"))
            fake.emit("BTCUSDT", 3)
            run.wait_count(3)
            with fake.lock:  # frames the socket never carried: a second hole
                fake._make_trades("BTCUSDT", 2)
            fake.emit("BTCUSDT", 1)
            run.wait_count(4)
            assert run.ids() == [11, 12, 13, 16]
            assert fake.request_count("/api/v3/historicalTrades") == 1, "a refusal is not retried"
            assert fake.connects == 1, "a refused gap fill must not cost the connection"


@pytest.mark.parametrize("header", ["x-mbx-used-weight-{num}{letter}", None], ids=["lowercase", "absent"])
def test_pacing_with_the_weight_header_in_another_case_or_absent(header: str | None) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with (
        FakeBinance(weight_limit=40, weight_interval=("SECOND", 1), weight_header=header) as fake,
        closing(BinanceRest(fake.base_url)) as rest,
    ):
        source = BinanceBarSource(rest)
        bars = [
            bar
            for page in source.fetch_bars("BTCUSDT", "1m", start, start + timedelta(minutes=10_000))
            for bar in page
        ]
        assert len(bars) == 10_000
        assert [status for *_, status in fake.requests] == [200] * 11, "no 429: paced by the learned limit"
        assert fake.violations == 0


def test_the_open_bar_is_judged_by_binance_clock_not_ours() -> None:
    # Binance's clock 5 s into the previous minute of ours: its open bar is our last closed one.
    skew = -(int(time.time() * 1000) % 60_000 + 5_000)
    with FakeBinance(clock_skew_ms=skew) as fake, closing(BinanceRest(fake.base_url)) as rest:
        source = BinanceBarSource(rest)
        source.resolve_symbol("BTCUSDT")
        server_open = floor_open("1m", datetime.now(UTC) + timedelta(milliseconds=skew))
        now = datetime.now(UTC)
        bars = [
            bar
            for page in source.fetch_bars("BTCUSDT", "1m", now - timedelta(minutes=10), now)
            for bar in page
        ]
        assert bars
        assert bars[-1].timestamp < server_open, "stored a bar Binance still has open"


def test_a_server_time_that_is_no_clock_is_ignored() -> None:
    # A server answering the documentation's example serverTime must not hide every recent bar.
    with (
        FakeBinance(fixed_server_time=1565246363776) as fake,
        closing(BinanceRest(fake.base_url)) as rest,
    ):
        source = BinanceBarSource(rest)
        source.resolve_symbol("BTCUSDT")
        now = datetime.now(UTC)
        pages = source.fetch_bars("BTCUSDT", "1m", now - timedelta(minutes=10), now)
        bars = [bar for page in pages for bar in page]
        assert bars[-1].timestamp >= floor_open("1m", now) - timedelta(minutes=1)
