"""Binance's WebSocket limits, and a sliding-window pacer that keeps us under them.

Binance's spot WebSocket streams documentation sets, per IP and per connection:

* at most 1,024 streams on one connection;
* at most 5 incoming messages per second on one connection (PING and PONG frames and JSON control
  messages such as SUBSCRIBE all count); a connection that goes over is disconnected;
* at most 300 connection attempts per 5 minutes per IP;
* a connection is closed by the server after 24 hours.

`SlidingWindow` is used twice: once per process for connection attempts (so a reconnect storm of every
connection at once is spread out instead of earning a ban), and once per connection for the
SUBSCRIBE/UNSUBSCRIBE messages we send (a margin is left for the pings and pongs websocket-client sends).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from mdtool.adapters.choices import (  # defined there so that `--help` stays light
    DEFAULT_STREAMS_PER_CONNECTION as DEFAULT_STREAMS_PER_CONNECTION,
)

MAX_STREAMS_PER_CONNECTION = 1024
MAX_MESSAGES_PER_SECOND = 5
MAX_ATTEMPTS = 300
ATTEMPT_WINDOW_SECONDS = 300.0
MAX_CONNECTION_SECONDS = 24 * 3600.0

CONTROL_MESSAGES_PER_SECOND = 3
"""Our SUBSCRIBE/UNSUBSCRIBE rate per connection, leaving 2 of Binance's 5 for pings and pongs."""
ATTEMPTS_PER_WINDOW = 250
"""Our connection attempts per 5 minutes: a margin under 300 for other processes on the same host."""
STREAMS_PER_MESSAGE = 100
"""Streams named in one SUBSCRIBE: 200 streams are two messages, 1,024 are eleven (under 4 s)."""


class SlidingWindow:
    """At most `limit` events in any `seconds`-long window; `acquire` waits for a free slot."""

    def __init__(self, limit: int, seconds: float) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.seconds = seconds
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def delay(self, now: float | None = None) -> float:
        """Seconds until an event may happen (0: now), without taking the slot."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._expire(now)
            if len(self._times) < self.limit:
                return 0.0
            return self._times[0] + self.seconds - now

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for a slot and take it; False when `stop` was set first."""
        while not stop.is_set():
            now = time.monotonic()
            with self._lock:
                self._expire(now)
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return True
                wait = self._times[0] + self.seconds - now
            stop.wait(min(max(wait, 0.001), 1.0))
        return False

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.seconds:
            self._times.popleft()
