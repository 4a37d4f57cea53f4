"""The WebSocket half of the fake: RFC 6455 frames, combined-stream envelopes, SUBSCRIBE, pings, drops.

`StreamApi` is mixed into `FakeBinance`, which owns the state it reads (`connections`, `trades`, ...).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.binance.clock import now_ms
from tests.fakes.binance.market import Trade, fmt, price_at

log = logging.getLogger("tests.fakes.binance")

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass
class Connection:
    sock: socket.socket
    combined: bool
    streams: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    silent: bool = False
    opened: float = field(default_factory=time.monotonic)
    closed: bool = False
    incoming: deque[float] = field(default_factory=deque)  # arrival of recent text/ping/pong frames
    close_code: int | None = None

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

    def send_frames(self, payloads: list[bytes]) -> int:
        """Several text frames in one write (the benchmark publisher); returns how many went out."""
        parts = []
        for payload in payloads:
            n = len(payload)
            if n < 126:
                parts.append(bytes((0x81, n)))
            else:
                parts.append(b"\x81\x7e" + struct.pack("!H", n))
            parts.append(payload)
        with self.lock:
            if self.closed or self.silent:
                return 0
            try:
                self.sock.sendall(b"".join(parts))
            except OSError:
                self.closed = True
                return 0
        return len(payloads)

    def policy_close(self, reason: str) -> None:
        """Close with 1008 (policy violation), as Binance does when a limit is exceeded."""
        self.close_code = 1008
        self.send_frame(0x8, struct.pack("!H", 1008) + reason.encode()[:100])
        self.kill()

    def kill(self) -> None:
        """Drop the TCP connection without a close frame, as a network failure would."""
        with self.lock:
            self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class StreamApi:
    """Trade publication and the WebSocket endpoints (mixed into `FakeBinance`)."""

    # --- knobs for tests -------------------------------------------------------------------------

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
            self.routes = None
        for conn in conns:
            conn.kill()

    def drop_connection(self, stream: str) -> int:
        """Kill only the connections carrying `stream` (the others carry on); returns how many."""
        with self.lock:
            hit = [c for c in self.connections if stream in c.streams]
            self.connections = [c for c in self.connections if c not in hit]
            self.routes = None
        for conn in hit:
            conn.kill()
        return len(hit)

    def connection_streams(self) -> list[int]:
        """Stream count of each open connection."""
        with self.lock:
            return [len(c.streams) for c in self.connections if not c.closed]

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
        """Steady trade flow for benchmarks: `trade_rate` trades per second per symbol.

        Owed trades are dealt round-robin over the symbols and each connection gets its share in one
        write, so the fake can offer tens of thousands of trades a second across thousands of symbols.
        """
        owed = 0.0
        cursor = 0
        last = time.monotonic()
        while not self._stop.wait(0.005):
            now = time.monotonic()
            with self.lock:
                names = list(self.symbols)
            if self.trade_rate > 0:
                owed += self.trade_rate * len(names) * (now - last)  # by the clock, however long a round took
            last = now
            count = int(owed)
            owed -= count
            if count and names:
                chosen = [names[(cursor + i) % len(names)] for i in range(count)]
                cursor = (cursor + count) % len(names)
                self._publish(chosen)

    def _publish(self, symbols: list[str]) -> None:
        """One trade for each entry of `symbols`, written to the connections subscribed to it."""
        stamp = now_ms()
        with self.lock:
            routes = self.routes
            if routes is None:  # rebuilt only after a change: 2,000 streams cost more than the trades
                routes = self.routes = {}
                for conn in self.connections:
                    for stream in conn.streams:
                        routes.setdefault(stream, []).append(conn)
            frames: dict[int, tuple[Connection, list[bytes]]] = {}
            for symbol in symbols:
                if self.keep_history:
                    (trade,) = self._make_trades(symbol, 1)
                    tid = trade.id
                else:
                    tid = self.next_ids.get(symbol, self.first_trade_id)
                    self.next_ids[symbol] = tid + 1
                stream = f"{symbol.lower()}@trade"
                targets = routes.get(stream)
                if not targets:
                    continue
                price = fmt(price_at(symbol, stamp) + tid % 7)
                data = (
                    f'{{"e":"trade","E":{stamp},"s":"{symbol}","t":{tid},"p":"{price}",'
                    f'"q":"0.{tid % 1000 + 1:03d}00000","T":{stamp},"m":{"true" if tid % 2 == 0 else "false"},"M":true}}'
                )
                for conn in targets:
                    text = f'{{"stream":"{stream}","data":{data}}}' if conn.combined else data
                    frames.setdefault(id(conn), (conn, []))[1].append(text.encode())
        for conn, payloads in frames.values():
            sent = conn.send_frames(payloads)
            with self.lock:
                self.sent += sent

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
            self.routes = None
        try:
            if len(conn.streams) > self.max_streams:
                self._violate(conn, f"Too many streams: more than {self.max_streams}")
                return
            self._read_client(conn)
        finally:
            conn.kill()
            with self.lock:
                if conn in self.connections:
                    self.connections.remove(conn)
                    self.routes = None

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
            if opcode in (0x1, 0x9, 0xA) and self._too_fast(conn):
                self._violate(conn, f"Too many messages: more than {self.max_messages_per_second} per second")
                return
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

    def _too_fast(self, conn: Connection) -> bool:
        now = time.monotonic()
        conn.incoming.append(now)
        while conn.incoming and conn.incoming[0] <= now - 1.0:
            conn.incoming.popleft()
        return len(conn.incoming) > self.max_messages_per_second

    def _violate(self, conn: Connection, reason: str) -> None:
        with self.lock:
            self.policy_closes += 1
        log.warning("fake binance: closing a connection with 1008: %s", reason)
        conn.policy_close(reason)

    def _on_request(self, conn: Connection, message: dict[str, Any]) -> None:
        method, params, rid = message.get("method"), message.get("params", []), message.get("id")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE") and not self.subscribe_method:
            conn.send_json(
                {"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"}, "id": rid}
            )
        elif method == "SUBSCRIBE":
            with self.lock:
                conn.streams.update(params)
                self.routes = None
                over = len(conn.streams) > self.max_streams
            if over:
                self._violate(conn, f"Too many streams: more than {self.max_streams}")
                return
            conn.send_json({"result": None, "id": rid})
        elif method == "UNSUBSCRIBE":
            with self.lock:
                conn.streams.difference_update(params)
                self.routes = None
            conn.send_json({"result": None, "id": rid})
        elif method == "LIST_SUBSCRIPTIONS":
            conn.send_json({"result": sorted(conn.streams), "id": rid})
        else:
            conn.send_json(
                {"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"}, "id": rid}
            )


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
