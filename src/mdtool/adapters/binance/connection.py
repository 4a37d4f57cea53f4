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

The connector's base `BinanceWebsocketClient` is used because `SpotWebsocketStreamClient` only appends a
fixed path to its URL; it is the same connector code, unmodified.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from binance.websocket.websocket_client import BinanceWebsocketClient

log = logging.getLogger(__name__)
_ws_log = logging.getLogger(__name__ + ".socket")
# The connector logs every close, even one we asked for, as a warning; the stream reports real losses.
_ws_log.setLevel(logging.ERROR)

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


class Connection:
    """One socket: connector callbacks feed the shared `inbox`; `dead` is set on close, error or silence.

    Every message is queued as `(tag, received_at, text)`, so one consumer thread reads every
    connection of the process in arrival order and knows which connection a message came on.
    """

    def __init__(self, url: str, silence_timeout: float, inbox: queue.SimpleQueue[Any], tag: int) -> None:
        self.inbox = inbox
        self.tag = tag
        self.dead = threading.Event()
        self.reason = ""
        self.messages = 0
        # Pings count towards Binance's 5 incoming messages a second: never more than two a second.
        every = max(silence_timeout / 3, 0.5)
        self._keepalive = threading.Thread(
            target=self._ping_loop, args=(every,), name="binance-ws-keepalive", daemon=True
        )
        self.client = BinanceWebsocketClient(
            stream_url=url,
            on_message=self._on_message,
            on_close=self._on_close,
            on_error=self._on_error,
            timeout=silence_timeout,
            logger=_ws_log,
        )
        try:
            _skip_redundant_utf8_check(self.client.socket_manager.ws)
        except Exception:
            self.close()
            raise
        self._keepalive.start()

    def subscribe(self, streams: list[str], request_id: int) -> None:
        """`SUBSCRIBE` (the caller paces these: they count towards Binance's 5 messages a second)."""
        self.client.subscribe(streams, id=request_id)

    def unsubscribe(self, streams: list[str], request_id: int) -> None:
        self.client.unsubscribe(streams, id=request_id)

    def _on_message(self, _manager: object, text: str) -> None:
        self.messages += 1
        self.inbox.put((self.tag, time.time(), text))

    def _on_close(self, _manager: object) -> None:
        self.die("server closed the connection")

    def _on_error(self, _manager: object, error: Exception) -> None:
        self.die(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)

    def die(self, reason: str) -> None:
        """Mark the connection dead (first reason wins) and wake the consumer."""
        if not self.dead.is_set():
            self.reason = reason
            self.dead.set()

    def _ping_loop(self, every: float) -> None:
        """Our pings make a live server answer with pongs, so only a dead socket goes silent."""
        while not self.dead.wait(every):
            try:
                self.client.ping()
            except Exception as exc:
                self.die(f"ping failed: {exc}")

    def close(self) -> None:
        """Close politely, but do not wait long for a peer that may be gone."""
        self.die("closed by mdtool")
        manager = self.client.socket_manager
        try:
            manager.close()
        except Exception as exc:
            log.debug("closing the Binance socket: %s", exc)
        manager.join(timeout=1.0)
        manager.ws.shutdown()  # closes the socket; wakes the reader if the peer never answered
        manager.join(timeout=2.0)
        if self._keepalive.is_alive():
            self._keepalive.join(timeout=1.0)


def _skip_redundant_utf8_check(ws: Any) -> None:
    """Turn off websocket-client's pure-Python UTF-8 validation of text frames.

    It walks the frame byte by byte in Python (about 19 us for a 160-byte trade event, 40 % of a core
    at 20,000 trades/s) and is redundant: the connector decodes every frame with `bytes.decode`, which
    rejects invalid UTF-8 anyway. websocket-client has a `skip_utf8_validation` option that the
    connector does not pass through, so it is set on the connection object it created.
    """
    ws.frame_buffer.skip_utf8_validation = True
    ws.cont_frame.skip_utf8_validation = True
