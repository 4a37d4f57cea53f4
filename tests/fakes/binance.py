"""A fake Binance spot exchange on loopback: the documented REST API and WebSocket streams.

It speaks the wire protocol binance-connector expects (JSON bodies, `{"code", "msg"}` errors,
`X-MBX-USED-WEIGHT-<n><letter>` headers, `Retry-After` on 429/418, RFC 6455 frames with combined-stream
envelopes and server pings), so tests drive the real client library rather than a mock.

Market data is generated deterministically: klines from the symbol's listing time up to the bar that is
open *now* (Binance includes the in-progress bar), trades with contiguous ids produced on demand
(`emit`) or at a steady rate (`trade_rate`). Knobs for misbehaviour: a request-weight limit on a
configurable window, injected failures (429 with Retry-After, 5xx, connection resets), dropped or
silent sockets and a maximum connection age (Binance's 24-hour disconnect, shortened). Knobs for what
the documentation leaves open, so the adapter is not fitted to one server: streams named only in the URL
or only with SUBSCRIBE, which WebSocket paths exist, the weight header's spelling (or none),
historicalTrades behind an API key, and the exchange's clock (or a `serverTime` that is not a clock).

A request that arrives while a 429's Retry-After is running earns a 418 ban, as on Binance; tests assert
`fake.violations == 0`. Run it standalone with `python -m tests.fakes.binance --port 8765`.
"""

from __future__ import annotations

import argparse
import base64
import calendar
import contextlib
import hashlib
import json
import logging
import math
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
INTERVAL_LETTERS = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}
INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
FIXED_MS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
}
WEEK_MS = 604_800_000
MONDAY_MS = 4 * 86_400_000  # 1970-01-05, the first Monday: Binance weeks open on Monday 00:00 UTC
WEIGHTS = {
    "/api/v3/ping": 1,
    "/api/v3/time": 1,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/klines": 2,
    "/api/v3/historicalTrades": 25,
    "/api/v3/trades": 25,
}


def ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime."""
    return calendar.timegm(moment.utctimetuple()) * 1000 + moment.microsecond // 1000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- kline grid ------------------------------------------------------------------------------------


def floor_open_ms(interval: str, t: int) -> int:
    if interval in FIXED_MS:
        return t - t % FIXED_MS[interval]
    if interval == "1w":
        return t - (t - MONDAY_MS) % WEEK_MS
    moment = datetime.fromtimestamp(t / 1000, UTC)
    return ms(datetime(moment.year, moment.month, 1, tzinfo=UTC))


def next_open_ms(interval: str, t: int) -> int:
    if interval in FIXED_MS:
        return t + FIXED_MS[interval]
    if interval == "1w":
        return t + WEEK_MS
    moment = datetime.fromtimestamp(t / 1000, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return ms(datetime(year, month, 1, tzinfo=UTC))


def prev_open_ms(interval: str, t: int) -> int:
    if interval in FIXED_MS:
        return t - FIXED_MS[interval]
    if interval == "1w":
        return t - WEEK_MS
    return floor_open_ms(interval, t - 1)


def price_at(symbol: str, t: int) -> int:
    """Deterministic price in hundredths, wandering but always positive."""
    seed = sum(symbol.encode()) * 7919
    return 4_000_000 + (seed + t // 60_000 * 37) % 200_000


def fmt(hundredths: int, scale: int = 8) -> str:
    """Binance style decimal string with 8 places: 4200001 -> '42000.01000000'."""
    whole, frac = divmod(hundredths, 100)
    return f"{whole}.{frac:02d}" + "0" * (scale - 2)


def kline_json(symbol: str, interval: str, open_ms: int) -> str:
    """One kline as Binance serialises it; built as text because the benchmark serves 525,600 of them."""
    close_ms = next_open_ms(interval, open_ms) - 1
    o = price_at(symbol, open_ms)
    c = price_at(symbol, close_ms)
    h = max(o, c) + 150
    low = min(o, c) - 120
    trades = 10 + open_ms // 1000 % 90
    volume = trades * 3
    base = o // 100
    half = volume // 2
    return (
        f'[{open_ms},"{o // 100}.{o % 100:02d}000000","{h // 100}.{h % 100:02d}000000",'
        f'"{low // 100}.{low % 100:02d}000000","{c // 100}.{c % 100:02d}000000",'
        f'"{fmt(volume)}",{close_ms},"{fmt(volume * base)}",{trades},"{fmt(half)}","{fmt(half * base)}","0"]'
    )


def kline_row(symbol: str, interval: str, open_ms: int) -> list[Any]:
    """The same kline parsed, for assertions."""
    row: list[Any] = json.loads(kline_json(symbol, interval, open_ms))
    return row


# --- trades ----------------------------------------------------------------------------------------


@dataclass
class Trade:
    id: int
    time: int
    price: str
    qty: str
    buyer_maker: bool

    def event(self, symbol: str) -> dict[str, Any]:
        """Payload of `<symbol>@trade` as documented."""
        return {
            "e": "trade",
            "E": now_ms(),
            "s": symbol,
            "t": self.id,
            "p": self.price,
            "q": self.qty,
            "T": self.time,
            "m": self.buyer_maker,
            "M": True,
        }

    def rest(self) -> dict[str, Any]:
        """Row of GET /api/v3/historicalTrades as documented."""
        quote = f"{float(self.price) * float(self.qty):.8f}"
        return {
            "id": self.id,
            "price": self.price,
            "qty": self.qty,
            "quoteQty": quote,
            "time": self.time,
            "isBuyerMaker": self.buyer_maker,
            "isBestMatch": True,
        }


@dataclass
class Injection:
    status: int  # HTTP status, or 0 for a reset connection (no response at all)
    path: str
    retry_after: int | None
    skip: int = 0  # let this many matching requests through first


@dataclass
class Connection:
    sock: socket.socket
    combined: bool
    streams: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    silent: bool = False
    opened: float = field(default_factory=time.monotonic)
    closed: bool = False

    def send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([n])
        elif n < 65536:
            header += bytes([126]) + struct.pack("!H", n)
        else:
            header += bytes([127]) + struct.pack("!Q", n)
        with self.lock:
            if self.closed or self.silent:
                return
            try:
                self.sock.sendall(header + payload)
            except OSError:
                self.closed = True

    def send_json(self, message: dict[str, Any]) -> None:
        self.send_frame(0x1, json.dumps(message, separators=(",", ":")).encode())

    def kill(self) -> None:
        """Drop the TCP connection without a close frame, as a network failure would."""
        with self.lock:
            self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class FakeBinance:
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
        self.outages: list[tuple[int, int]] = []
        self.lock = threading.Lock()
        self.trades: dict[str, list[Trade]] = {name: [] for name in self.symbols}
        self.first_trade_id = 1
        self.connections: list[Connection] = []
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
        self._stop = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self.server.daemon_threads = True
        self._threads: list[threading.Thread] = []

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

    # --- knobs for tests -------------------------------------------------------------------------

    def inject(
        self,
        status: int,
        count: int = 1,
        path: str = "/api/v3/klines",
        retry_after: int | None = None,
        skip: int = 0,
    ) -> None:
        """Answer `count` requests to `path` with `status` (0: reset the connection), after `skip`."""
        with self.lock:
            self.injections.extend(Injection(status, path, retry_after, skip) for _ in range(count))

    def add_outage(self, start: datetime, end: datetime) -> None:
        """No klines open in [start, end), as after a real exchange outage."""
        self.outages.append((ms(start), ms(end)))

    def emit(self, symbol: str, count: int = 1) -> list[Trade]:
        """Create `count` trades now and push them to every subscribed socket."""
        with self.lock:
            made = self._make_trades(symbol, count)
            targets = [c for c in self.connections if f"{symbol.lower()}@trade" in c.streams]
        for trade in made:
            payload = trade.event(symbol)
            for conn in targets:
                self._push(conn, f"{symbol.lower()}@trade", payload)
        return made

    def drop(self) -> None:
        """Kill every WebSocket connection abruptly."""
        with self.lock:
            conns, self.connections = self.connections, []
        for conn in conns:
            conn.kill()

    def broadcast(self, message: dict[str, Any]) -> None:
        """Send `message` as is on every socket (for notices and deliberately broken events)."""
        with self.lock:
            conns = list(self.connections)
        for conn in conns:
            conn.send_json(message)

    def announce_shutdown(self) -> None:
        """Send Binance's `serverShutdown` notice on every socket (they stay open, for now)."""
        self.broadcast({"e": "serverShutdown", "E": now_ms()})

    def silence(self) -> None:
        """Keep sockets open but send nothing and ignore pings (a half-dead connection)."""
        with self.lock:
            for conn in self.connections:
                conn.silent = True

    def subscribed(self, stream: str) -> bool:
        with self.lock:
            return any(stream in c.streams and not c.closed for c in self.connections)

    def request_count(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r[1] == path)

    # --- internals -------------------------------------------------------------------------------

    def _make_trades(self, symbol: str, count: int) -> list[Trade]:
        book = self.trades[symbol]
        next_id = book[-1].id + 1 if book else self.first_trade_id
        stamp = now_ms()
        made = []
        for i in range(count):
            tid = next_id + i
            price = price_at(symbol, stamp) + tid % 7
            made.append(Trade(tid, stamp, fmt(price), f"0.{tid % 1000 + 1:03d}00000", tid % 2 == 0))
        book.extend(made)
        return made

    def _push(self, conn: Connection, stream: str, payload: dict[str, Any]) -> None:
        conn.send_json({"stream": stream, "data": payload} if conn.combined else payload)

    def _publisher(self) -> None:
        """Steady trade flow for benchmarks: `trade_rate` trades per second per symbol."""
        owed = 0.0
        last = time.monotonic()
        while not self._stop.wait(0.002):
            now = time.monotonic()
            if self.trade_rate > 0:
                owed += self.trade_rate * (now - last)  # by the clock, however long a round took
            last = now
            count = int(owed)
            owed -= count
            if count:
                for symbol in self.symbols:
                    self.emit(symbol, count)

    def _pinger(self) -> None:
        """Server pings (Binance: every 20 s) and the maximum connection age."""
        last_ping = time.monotonic()
        while not self._stop.wait(0.05):
            now = time.monotonic()
            with self.lock:
                conns = list(self.connections)
            if now - last_ping >= self.ping_interval:
                last_ping = now
                payload = str(now_ms()).encode()
                with self.lock:
                    self._ping_payloads.add(payload)
                for conn in conns:
                    conn.send_frame(0x9, payload)
            if self.max_connection_seconds is not None:
                for conn in conns:
                    if now - conn.opened >= self.max_connection_seconds:
                        conn.send_frame(0x8, struct.pack("!H", 1000))
                        conn.kill()

    def now_ms(self) -> int:
        """The exchange's clock."""
        return now_ms() + self.clock_skew_ms

    def server_time(self) -> int:
        """`serverTime` as answered."""
        return self.now_ms() if self.fixed_server_time is None else self.fixed_server_time

    def window(self, now: float) -> tuple[int, float]:
        """Current weight window id and the seconds until it ends."""
        length = INTERVAL_SECONDS[self.weight_interval[0]] * self.weight_interval[1]
        wid = int(now // length)
        return wid, (wid + 1) * length - now

    def weight_headers(self, used: int) -> dict[str, str]:
        """The used-weight header as configured (`X-MBX-USED-WEIGHT-1M` by default), or none."""
        if self.weight_header is None:
            return {}
        unit, num = self.weight_interval
        return {self.weight_header.format(num=num, letter=INTERVAL_LETTERS[unit]): str(used)}

    def admit(self, path: str) -> tuple[int, dict[str, str], Any]:
        """Rate limiting and injected failures: (status, headers, error body) or status 200."""
        now = time.time()
        weight = WEIGHTS.get(path, 1)
        with self.lock:
            if now < self.banned_until:
                wait = math.ceil(self.banned_until - now)
                return 418, {"Retry-After": str(wait)}, _err(-1003, "IP banned.")
            if now < self.retry_after_until:
                self.violations += 1
                self.banned_until = now + 120
                log.error("fake binance: request during Retry-After; banning")
                return (
                    418,
                    {"Retry-After": "120"},
                    _err(-1003, "Way too much request weight used; IP banned."),
                )
            for i, inj in enumerate(self.injections):
                if inj.path == path and inj.skip:
                    inj.skip -= 1
                    break
                if inj.path == path:
                    del self.injections[i]
                    headers = {}
                    if inj.retry_after is not None:
                        headers["Retry-After"] = str(inj.retry_after)
                        if inj.status == 429:
                            self.retry_after_until = now + inj.retry_after
                    if inj.status >= 500:
                        return inj.status, headers, "<html>upstream failure</html>"
                    return inj.status, headers, _err(-1003, "Too many requests; injected.")
            wid, remaining = self.window(now)
            used = self.used.get(wid, 0)
            if used + weight > self.weight_limit:
                wait = max(1, math.ceil(remaining))
                self.retry_after_until = now + wait
                return 429, {"Retry-After": str(wait)}, _err(-1003, "Too much request weight used.")
            self.used = {wid: used + weight}
            return 200, self.weight_headers(used + weight), None

    # --- REST endpoints --------------------------------------------------------------------------

    def route(self, path: str, params: dict[str, str], api_key: str | None = None) -> tuple[int, Any]:
        if path == "/api/v3/ping":
            return 200, {}
        if path == "/api/v3/time":
            return 200, {"serverTime": self.server_time()}
        if path == "/api/v3/exchangeInfo":
            return self.exchange_info(params)
        if path == "/api/v3/klines":
            return self.klines(params)
        if path == "/api/v3/historicalTrades":
            if self.trades_need_key and not api_key:
                return 401, _err(-2014, "API-key format invalid.")
            return self.historical_trades(params)
        return 404, _err(-1000, f"Unknown path {path}.")

    def exchange_info(self, params: dict[str, str]) -> tuple[int, Any]:
        if "symbol" in params:
            names = [params["symbol"]]
        elif "symbols" in params:
            names = json.loads(params["symbols"])
        else:
            names = list(self.symbols)
        for name in names:
            if name not in self.symbols:
                return 400, _err(-1121, "Invalid symbol.")
        unit, num = self.weight_interval
        return 200, {
            "timezone": "UTC",
            "serverTime": self.server_time(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": unit,
                    "intervalNum": num,
                    "limit": self.weight_limit,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": [
                {
                    "symbol": name,
                    "status": "TRADING",
                    "baseAsset": name[:-4],
                    "quoteAsset": name[-4:],
                    "baseAssetPrecision": 8,
                    "quoteAssetPrecision": 8,
                    "orderTypes": ["LIMIT", "MARKET"],
                    "isSpotTradingAllowed": True,
                    "filters": [],
                    "permissions": [],
                    "permissionSets": [["SPOT"]],
                }
                for name in names
            ],
        }

    def klines(self, params: dict[str, str]) -> tuple[int, Any]:
        symbol, interval = params.get("symbol", ""), params.get("interval", "")
        if symbol not in self.symbols:
            return 400, _err(-1121, "Invalid symbol.")
        if interval not in FIXED_MS and interval not in ("1w", "1M"):
            return 400, _err(-1120, "Invalid interval.")
        limit = int(params.get("limit", 500))
        if not 1 <= limit <= 1000:
            return 400, _err(-1130, "Data sent for parameter 'limit' is not valid.")
        first = floor_open_ms(interval, self.symbols[symbol])
        last = floor_open_ms(interval, self.now_ms())  # the bar open now: Binance includes it
        start, end = params.get("startTime"), params.get("endTime")
        rows: list[str] = []
        if start is not None:
            t = max(first, floor_open_ms(interval, int(start)))
            if t < int(start):
                t = next_open_ms(interval, t)
            stop = min(last, int(end)) if end is not None else last
            for opened in self._opens(interval, t, stop):
                rows.append(kline_json(symbol, interval, opened))
                if len(rows) == limit:
                    break
        else:
            t = min(last, floor_open_ms(interval, int(end))) if end is not None else last
            while t >= first and len(rows) < limit:
                if not self._in_outage(t):
                    rows.append(kline_json(symbol, interval, t))
                t = prev_open_ms(interval, t)
            rows.reverse()
        return 200, "[" + ",".join(rows) + "]"

    def _opens(self, interval: str, t: int, stop: int) -> Iterator[int]:
        while t <= stop:
            if not self._in_outage(t):
                yield t
            t = next_open_ms(interval, t)

    def _in_outage(self, t: int) -> bool:
        return any(a <= t < b for a, b in self.outages)

    def historical_trades(self, params: dict[str, str]) -> tuple[int, Any]:
        symbol = params.get("symbol", "")
        if symbol not in self.symbols:
            return 400, _err(-1121, "Invalid symbol.")
        limit = int(params.get("limit", 500))
        if not 1 <= limit <= 1000:
            return 400, _err(-1130, "Data sent for parameter 'limit' is not valid.")
        with self.lock:
            book = list(self.trades[symbol])
        if "fromId" in params:
            offset = max(0, int(params["fromId"]) - self.first_trade_id)
            rows = book[offset : offset + limit]
        else:
            rows = book[-limit:]
        return 200, [trade.rest() for trade in rows]

    # --- WebSocket -------------------------------------------------------------------------------

    def accepts_path(self, path: str) -> bool:
        """Whether a WebSocket upgrade to `path` is served (others get HTTP 404)."""
        return any(path == p or path.startswith(p + "/") for p in self.ws_paths)

    def serve_websocket(self, sock: socket.socket, path: str, query: dict[str, str]) -> None:
        combined = path.startswith("/stream")
        conn = Connection(sock, combined)
        if self.url_streams and combined and "streams" in query:
            conn.streams.update(query["streams"].split("/"))
        elif self.url_streams and not combined and path.startswith("/ws/"):
            conn.streams.add(path[len("/ws/") :])
        with self.lock:
            self.connections.append(conn)
            self.connects += 1
        try:
            self._read_client(conn)
        finally:
            conn.kill()
            with self.lock:
                if conn in self.connections:
                    self.connections.remove(conn)

    def _read_client(self, conn: Connection) -> None:
        with conn.sock.makefile("rb") as reader:
            self._read_frames(conn, reader)

    def _read_frames(self, conn: Connection, reader: Any) -> None:
        while not conn.closed:
            frame = _read_frame(reader)
            if frame is None:
                return
            opcode, payload = frame
            if conn.silent:
                continue
            if opcode == 0x8:
                conn.send_frame(0x8, payload[:2])
                return
            if opcode == 0x9:
                conn.send_frame(0xA, payload)
            elif opcode == 0xA:
                with self.lock:
                    self.pongs += 1
                    self.echoed_pongs += payload in self._ping_payloads
            elif opcode == 0x1:
                self._on_request(conn, json.loads(payload))

    def _on_request(self, conn: Connection, message: dict[str, Any]) -> None:
        method, params, rid = message.get("method"), message.get("params", []), message.get("id")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE") and not self.subscribe_method:
            conn.send_json(
                {"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"}, "id": rid}
            )
        elif method == "SUBSCRIBE":
            with self.lock:
                conn.streams.update(params)
            conn.send_json({"result": None, "id": rid})
        elif method == "UNSUBSCRIBE":
            with self.lock:
                conn.streams.difference_update(params)
            conn.send_json({"result": None, "id": rid})
        elif method == "LIST_SUBSCRIPTIONS":
            conn.send_json({"result": sorted(conn.streams), "id": rid})
        else:
            conn.send_json(
                {"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"}, "id": rid}
            )


def _err(code: int, msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg}


def _read_frame(reader: Any) -> tuple[int, bytes] | None:
    """One client frame (masked, per RFC 6455); None when the peer went away."""
    try:
        head = reader.read(2)
        if len(head) < 2:
            return None
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", reader.read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", reader.read(8))[0]
        mask = reader.read(4) if head[1] & 0x80 else b"\0\0\0\0"
        data = reader.read(length)
    except (OSError, struct.error):
        return None
    return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def _handler_for(fake: FakeBinance) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes; no 40 ms delayed-ACK stalls

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("fake binance: " + format, *args)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if self.headers.get("Upgrade", "").lower() == "websocket":
                self._upgrade(parts.path, params)
                return
            status, headers, error = fake.admit(parts.path)
            if status == 0:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                fake.requests.append((time.time(), parts.path, params, 0))
                return
            body: Any = error
            if status == 200:
                status, body = fake.route(parts.path, params, self.headers.get("X-MBX-APIKEY"))
            fake.requests.append((time.time(), parts.path, params, status))
            raw = body.encode() if isinstance(body, str) else json.dumps(body, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

        def _upgrade(self, path: str, params: dict[str, str]) -> None:
            if not fake.accepts_path(path):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.close_connection = True
                return
            key = self.headers.get("Sec-WebSocket-Key", "")
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            fake.serve_websocket(self.connection, path, params)

    return Handler


def main() -> None:
    """Serve the fake standalone (used by bench/binance.py in a separate process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--weight-limit", type=int, default=10**9)
    parser.add_argument("--trade-rate", type=float, default=0.0, help="trades per second per symbol")
    parser.add_argument("--symbols", default="BTCUSDT")
    args = parser.parse_args()
    listed = datetime(2017, 8, 17, tzinfo=UTC)
    fake = FakeBinance(
        symbols=dict.fromkeys(args.symbols.split(","), listed),
        weight_limit=args.weight_limit,
        trade_rate=args.trade_rate,
        port=args.port,
    ).start()
    print(f"fake binance on {fake.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
