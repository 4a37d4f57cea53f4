"""One WebSocket connection to Binance's market streams, and the URLs it may use.

Binance documents two ways to choose streams: in the URL (`/ws/<stream>` raw, `/stream?streams=a/b`
combined) and with a `SUBSCRIBE` message on an open socket. binance-connector's
`SpotWebsocketStreamClient` only does the second (it connects to a bare `/stream` or `/ws`), so a server
that honours only URL subscriptions would never send it a trade. We therefore name the streams in the
URL *and* send `SUBSCRIBE` for the same streams: Binance treats a repeated subscription as a no-op, a
server without `SUBSCRIBE` answers with an error we ignore, and a server that ignores the query string
still gets the message. The combined endpoint is tried first (one socket for every symbol); each time a
server refuses a handshake, the next form is tried: the raw endpoint of the first stream (`SUBSCRIBE`
adds the rest), then the bare `/stream` and `/ws` paths the connector itself uses.

The socket is our own (see `frames` for why binance-connector's websocket client is not used here;
its REST client still is): a blocking socket, TLS for `wss://`, a handshake, masked client frames, and
one `Reader` thread that reads every connection of the process (see `reader`). A connection's owner
(its `Slot`) sends SUBSCRIBE messages and pings and declares the socket dead after `silence_timeout`
without a byte from the server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import ssl
import threading
import time
from typing import Any, Protocol
from urllib.parse import urlsplit

from mdtool.adapters.binance.frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    TEXT,
    FrameError,
    check_handshake,
    close_code,
    encode,
    handshake_request,
    split_frames,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
SEND_TIMEOUT = 5.0
READ_SIZE = 64 * 1024

MAX_URL_LENGTH = 4000
"""Longer combined-stream URLs are not used: streams are then only subscribed to (proxies cut long URLs)."""


def stream_urls(base_url: str, streams: list[str]) -> list[str]:
    """Connection URLs in order of preference: combined, raw for the first stream, bare paths.

    `base_url` is `BINANCE_STREAM_URL`, the host without a path; a trailing `/`, `/ws` or `/stream`
    (Binance's testnet documents its base endpoint with `/ws`) is tolerated.
    """
    root = base_url.rstrip("/")
    for suffix in ("/ws", "/stream"):
        if root.endswith(suffix):
            root = root[: -len(suffix)]
    combined = f"{root}/stream?streams={'/'.join(streams)}"
    named = [combined] if len(combined) <= MAX_URL_LENGTH else []
    return [*named, f"{root}/ws/{streams[0]}", f"{root}/stream", f"{root}/ws"]


def is_handshake_refusal(error: BaseException) -> bool:
    """True when the server answered the WebSocket upgrade with an HTTP error (wrong endpoint)."""
    status = getattr(error, "status_code", None)
    return isinstance(status, int) and 400 <= status < 500


class Inbox:
    """The bounded queue between the reader thread and the consumer: memory stays bounded.

    When the consumer falls behind by `limit` reads (at most `READ_SIZE` each: 64 MiB), `put` waits,
    so the reader stops reading and TCP pushes back on the exchange, instead of the process growing
    without bound. Once `halt` is set (the stream is stopping) a full inbox no longer waits: what was
    not stored is found again by the next run, which resumes after the newest stored trade.
    """

    def __init__(self, halt: threading.Event, limit: int = 1_000) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=limit)
        self._halt = halt
        self.waits = 0

    def put(self, item: Any) -> None:
        while True:
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                self.waits += 1
                if self._halt.is_set():
                    return

    def get(self, timeout: float) -> Any:
        """The next item; raises `queue.Empty` after `timeout`."""
        return self._queue.get(timeout=timeout)


class HandshakeRefused(Exception):
    """The server answered the upgrade with an HTTP status other than 101 (`status_code`)."""

    def __init__(self, url: str, status_code: int) -> None:
        super().__init__(f"{url.split('?')[0]} answered HTTP {status_code}")
        self.status_code = status_code


class Registry(Protocol):
    """What a connection needs from the reader thread that serves it."""

    def add(self, conn: Connection) -> None: ...

    def remove(self, conn: Connection) -> None: ...


class Connection:
    """One socket whose messages go to the shared `inbox`; `dead` is set on close, error or silence.

    Messages are queued as `(tag, received_at, [payload, ...])`, every complete frame of one read at
    once, so one consumer thread reads every connection of the process in arrival order and knows which
    connection a message came on.
    """

    def __init__(self, url: str, silence_timeout: float, inbox: Inbox, tag: int, reader: Registry) -> None:
        self.inbox = inbox
        self.tag = tag
        self.silence_timeout = silence_timeout
        self.dead = threading.Event()
        self.reason = ""
        self.messages = 0
        self.last_received = time.monotonic()
        self._reader = reader
        self._lock = threading.Lock()
        self._fragments: list[bytes] = []
        self.sock = _open(url)
        try:
            self._buffer = self._handshake(url)
            self.sock.settimeout(SEND_TIMEOUT)
            self._feed(b"")
        except BaseException:
            self.sock.close()
            raise
        reader.add(self)

    def _handshake(self, url: str) -> bytes:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        request, accept = handshake_request(parts.netloc, path or "/")
        self.sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(4096)
            if not chunk or len(data) > 65536:
                raise ConnectionError(f"{url.split('?')[0]}: no WebSocket handshake answer")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status = check_handshake(head, accept)
        if status != 101:
            raise HandshakeRefused(url, status)
        return rest

    def subscribe(self, streams: list[str], request_id: int) -> None:
        """`SUBSCRIBE` (the caller paces these: they count towards Binance's 5 messages a second)."""
        self.send_text({"method": "SUBSCRIBE", "params": streams, "id": request_id})

    def unsubscribe(self, streams: list[str], request_id: int) -> None:
        self.send_text({"method": "UNSUBSCRIBE", "params": streams, "id": request_id})

    def send_text(self, message: dict[str, Any]) -> None:
        self._send(encode(TEXT, json.dumps(message, separators=(",", ":")).encode()))

    def ping(self) -> None:
        """Our ping makes a live server answer with a pong, so only a dead socket goes silent."""
        self._send(encode(PING, str(time.time_ns()).encode()))

    def _send(self, frame: bytes) -> None:
        try:
            with self._lock:
                self.sock.sendall(frame)
        except OSError as exc:
            self.die(f"send failed: {exc}")

    def on_readable(self) -> None:
        """Called by the reader thread when the socket has data: read it and queue every message."""
        try:
            with self._lock:
                data = self.sock.recv(READ_SIZE)
                pending = self.sock.pending() if isinstance(self.sock, ssl.SSLSocket) else 0
                if pending:
                    data += self.sock.recv(pending)
        except (BlockingIOError, ssl.SSLWantReadError, TimeoutError):
            return
        except OSError as exc:
            self.die(f"{type(exc).__name__}: {exc}")
            return
        if not data:
            self.die("server closed the connection")
            return
        try:
            self._feed(data)
        except FrameError as exc:
            self.die(f"protocol error from the server: {exc}")

    def _feed(self, data: bytes) -> None:
        frames, self._buffer = split_frames(self._buffer + data)
        self.last_received = time.monotonic()
        texts = []
        for opcode, final, payload in frames:
            if opcode in (TEXT, BINARY):
                if final:
                    texts.append(payload)
                else:
                    self._fragments = [payload]
            elif opcode == CONTINUATION:
                self._fragments.append(payload)
                if final:
                    texts.append(b"".join(self._fragments))
                    self._fragments = []
            elif opcode == PING:
                self._send(encode(0xA, payload))  # the pong echoes the ping's payload, as Binance asks
            elif opcode == CLOSE:
                code = close_code(payload)
                self._send(encode(CLOSE, payload[:2]))
                self.die(
                    f"server closed the connection (code {code})" if code else "server closed the connection"
                )
                break
        if texts:
            self.messages += len(texts)
            self.inbox.put((self.tag, time.time(), texts))

    def silent_for(self) -> float:
        return time.monotonic() - self.last_received

    def die(self, reason: str) -> None:
        """Mark the connection dead (first reason wins)."""
        if not self.dead.is_set():
            self.reason = reason
            self.dead.set()

    def close(self) -> None:
        """Stop reading, say goodbye if the peer still listens, and close the socket (idempotent)."""
        self.die("closed by mdtool")
        self._reader.remove(self)
        with contextlib.suppress(OSError):
            self.sock.settimeout(0.5)
            self.sock.sendall(encode(CLOSE, (1000).to_bytes(2, "big")))
        with contextlib.suppress(OSError):
            self.sock.close()


def _open(url: str) -> socket.socket:
    """A connected TCP socket (TLS for `wss://`), blocking with a timeout."""
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or "localhost"
    port = parts.port or (443 if secure else 80)
    sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if secure:
        try:
            return ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
    return sock
