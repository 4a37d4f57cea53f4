"""One thread reads every WebSocket connection of a stream, whatever their number.

A thread per socket (websocket-client's model) costs a stack and a GIL hand-off per frame per socket;
with ten or more connections per process the hand-offs dominate. Here a `selectors` loop waits on every
socket at once and lets the readable ones read a whole buffer each (`Connection.on_readable`), which
queues all complete messages of that read in one go.
"""

from __future__ import annotations

import logging
import selectors
import threading

from mdtool.adapters.binance.connection import Connection

log = logging.getLogger(__name__)


class Reader:
    """The selector loop; connections register themselves (`add`) and are removed on close."""

    def __init__(self, halt: threading.Event) -> None:
        self._halt = halt
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="binance-ws-reader", daemon=True)

    def start(self) -> Reader:
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def add(self, conn: Connection) -> None:
        with self._lock:
            self._selector.register(conn.sock, selectors.EVENT_READ, conn)

    def remove(self, conn: Connection) -> None:
        """Stop reading `conn` (idempotent); after this the reader never touches its socket again."""
        with self._lock:
            try:
                self._selector.unregister(conn.sock)
            except (KeyError, ValueError):
                return

    def _run(self) -> None:
        try:
            while not self._halt.is_set():
                with self._lock:
                    empty = not self._selector.get_map()
                if empty:
                    self._halt.wait(0.05)
                    continue
                for key, _ in self._selector.select(0.2):
                    with self._lock:
                        if self._selector.get_map().get(key.fd) is not key:
                            continue  # removed while we waited
                        conn: Connection = key.data
                        try:
                            conn.on_readable()
                        except Exception as exc:  # one broken connection must not stop the others
                            log.exception("Binance connection %d: read failed", conn.tag)
                            conn.die(f"read failed: {exc}")
                        if conn.dead.is_set():
                            self._selector.unregister(conn.sock)
        finally:
            self._selector.close()
