"""`FakeBinance`: the exchange's state, its knobs, and the lifecycle of its loopback server."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer

from tests.fakes.binance.clock import ms
from tests.fakes.binance.http import handler_for
from tests.fakes.binance.market import Trade
from tests.fakes.binance.rest import Injection, RestApi
from tests.fakes.binance.websocket import Connection, StreamApi


class FakeBinance(RestApi, StreamApi):
    """The exchange state plus an HTTP/WebSocket server on 127.0.0.1 (one port for both)."""

    def __init__(
        self,
        symbols: dict[str, datetime] | None = None,
        weight_limit: int = 6000,
        weight_interval: tuple[str, int] = ("MINUTE", 1),
        ping_interval: float = 20.0,
        max_connection_seconds: float | None = None,
        trade_rate: float = 0.0,
        port: int = 0,
        url_streams: bool = True,
        subscribe_method: bool = True,
        ws_paths: tuple[str, ...] = ("/ws", "/stream"),
        weight_header: str | None = "X-MBX-USED-WEIGHT-{num}{letter}",
        trades_need_key: bool = False,
        clock_skew_ms: int = 0,
        fixed_server_time: int | None = None,
        max_streams: int = 1024,
        max_messages_per_second: int = 5,
        keep_history: bool = True,
    ) -> None:
        listed = datetime(2017, 8, 17, tzinfo=UTC)
        self.symbols = {
            name: ms(when) for name, when in (symbols or {"BTCUSDT": listed, "ETHUSDT": listed}).items()
        }
        self.weight_limit = weight_limit
        self.weight_interval = weight_interval
        self.ping_interval = ping_interval
        self.max_connection_seconds = max_connection_seconds
        self.trade_rate = trade_rate
        # Variants the documentation allows: streams named in the URL and/or the SUBSCRIBE method, which
        # endpoints exist, the weight header's spelling (None: not sent), historicalTrades behind a key.
        self.url_streams = url_streams
        self.subscribe_method = subscribe_method
        self.ws_paths = ws_paths
        self.weight_header = weight_header
        self.trades_need_key = trades_need_key
        self.clock_skew_ms = clock_skew_ms  # the exchange's clock minus ours: decides which bar is open
        self.fixed_server_time = fixed_server_time  # a `serverTime` that is not a clock (docs' example)
        # Binance's WebSocket limits: streams per connection and incoming messages (text, ping and pong
        # frames) per second per connection; going over closes the connection with code 1008.
        self.max_streams = max_streams
        self.max_messages_per_second = max_messages_per_second
        self.policy_closes = 0
        self.statuses: dict[str, str] = {}  # symbol -> exchangeInfo status; TRADING when absent
        self.keep_history = keep_history  # False: the benchmark's publisher keeps no trade book
        self.next_ids: dict[str, int] = {}
        self.sent = 0  # trade events written to sockets
        self.outages: list[tuple[int, int]] = []
        self.rendered: dict[tuple[str, str], dict[int, str]] = {}  # kline rows by open time (`klines_text`)
        self.lock = threading.Lock()
        self.trades: dict[str, list[Trade]] = {name: [] for name in self.symbols}
        self.first_trade_id = 1
        self.connections: list[Connection] = []
        self.routes: dict[str, list[Connection]] | None = None
        """Stream -> subscribed connections for the publisher; None after any change (rebuilt lazily)."""
        self.injections: list[Injection] = []
        self.requests: list[tuple[float, str, dict[str, str], int]] = []
        self.used: dict[int, int] = {}
        self.retry_after_until = 0.0
        self.banned_until = 0.0
        self.violations = 0
        self.pongs = 0
        self.echoed_pongs = 0  # pongs carrying the payload of one of our pings, as Binance requires
        self._ping_payloads: set[bytes] = set()
        self.connects = 0
        self.attempts: list[float] = []  # monotonic time of every WebSocket upgrade request
        self._stop = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(self))
        self.server.daemon_threads = True
        self._threads: list[threading.Thread] = []

    def list_symbol(self, name: str, status: str = "TRADING") -> None:
        """List a new symbol (or change a listed one's status: BREAK is halted, TRADING again)."""
        with self.lock:
            self.symbols.setdefault(name, ms(datetime(2017, 8, 17, tzinfo=UTC)))
            self.trades.setdefault(name, [])
            self.statuses[name] = status

    def delist(self, name: str) -> None:
        """Remove a symbol from exchangeInfo altogether."""
        with self.lock:
            self.symbols.pop(name, None)
            self.statuses.pop(name, None)

    def attempts_within(self, seconds: float) -> int:
        """WebSocket connection attempts in the last `seconds` (Binance allows 300 per 5 minutes)."""
        now = time.monotonic()
        return sum(1 for t in list(self.attempts) if now - t <= seconds)

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeBinance:
        for target in (self._serve, self._pinger, self._publisher):
            thread = threading.Thread(target=target, daemon=True, name=f"fake-binance-{target.__name__}")
            thread.start()
            self._threads.append(thread)
        return self

    def _serve(self) -> None:
        self.server.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.drop()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
