"""Many WebSocket connections, each with its own life: connect, subscribe in paced batches, reconnect.

A whole market does not fit on one connection (Binance allows 1,024 streams per connection; we default
to 200), so `ConnectionPool` keeps one `Slot` per group of symbols (`SlotPlan`). Each slot runs on its
own thread and reconnects on its own, with backoff and jitter; one connection dropping never disturbs
the others. Binance's limits (see `pacing`) are kept by construction:

* every connection attempt of the process takes a slot in one `SlidingWindow` (250 per 5 minutes), so a
  reconnect storm after a network blip is spread out instead of earning an IP ban;
* SUBSCRIBE and UNSUBSCRIBE go out in batches of 100 streams, at most 3 messages a second per
  connection (Binance disconnects above 5 incoming messages a second, pings and pongs included);
* each connection rolls over by itself before Binance's 24-hour disconnect, at an age staggered by its
  index, so the connections of a process never all reconnect (and gap-fill) at the same moment.

Messages of every connection go to one inbox (see `connection`); before a connection's first message
the slot queues an `Opened` marker, so the consumer opens catch-up holes exactly at the point in the
stream where the new connection starts.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mdtool.adapters.binance.connection import Connection, Inbox, Registry, is_handshake_refusal, stream_urls
from mdtool.adapters.binance.listing import SlotPlan, trade_stream
from mdtool.adapters.binance.pacing import CONTROL_MESSAGES_PER_SECOND, STREAMS_PER_MESSAGE, SlidingWindow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Opened:
    """Queued in the inbox just before a connection of slot `tag` opens (carrying `symbols`)."""

    tag: int
    symbols: tuple[str, ...]
    reconnect: bool


@dataclass(frozen=True)
class PoolOptions:
    """Timing knobs (tests shorten them; the defaults suit Binance)."""

    silence_timeout: float = 30.0
    backoff: float = 0.5
    backoff_cap: float = 10.0
    max_age: float = 23 * 3600.0
    """Roll a connection over after this long (staggered per slot), before Binance's 24-hour cut."""


class ConnectionPool:
    """The slots of one stream and the process-wide connection-attempt pacer they share."""

    def __init__(
        self,
        stream_url: str,
        inbox: Inbox,
        stop: threading.Event,
        *,
        capacity: int,
        attempts: SlidingWindow,
        options: PoolOptions,
        reader: Registry,
        on_reconnect: Callable[[], None],
        on_state: Callable[[int, int], None],
    ) -> None:
        self.stream_url = stream_url
        self.inbox = inbox
        self.stop = stop
        self.attempts = attempts
        self.options = options
        self.reader = reader
        self.on_reconnect = on_reconnect
        self.on_state = on_state
        """Called with (up, total) whenever a connection opens or closes."""
        self.plan = SlotPlan(capacity)
        self.slots: list[Slot] = []
        self.url_choice = 0
        self._lock = threading.Lock()

    @property
    def up(self) -> int:
        return sum(1 for slot in list(self.slots) if slot.up)

    @property
    def total(self) -> int:
        return sum(1 for slot in list(self.slots) if slot.symbols)

    def add(self, symbols: list[str]) -> None:
        """Subscribe `symbols` on slots with room, opening new connections as needed."""
        with self._lock:
            for index, gained in self.plan.add(symbols).items():
                if index == len(self.slots):
                    slot = Slot(self, index)
                    self.slots.append(slot)
                    slot.change(gained, [])
                    slot.start()
                else:
                    self.slots[index].change(gained, [])

    def remove(self, symbols: list[str]) -> None:
        """Unsubscribe `symbols` from the connections that carry them."""
        with self._lock:
            for index, lost in self.plan.remove(symbols).items():
                self.slots[index].change([], lost)

    def state_changed(self) -> None:
        self.on_state(self.up, self.total)

    def server_shutdown(self, tag: int) -> None:
        """Binance announced it will close this connection: move to a new one now."""
        self.slots[tag].kill("serverShutdown")

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for slot in list(self.slots):
            slot.join(max(0.0, deadline - time.monotonic()))


class Slot:
    """One connection's worth of symbols and the thread that keeps a socket open for them."""

    def __init__(self, pool: ConnectionPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.symbols: set[str] = set()
        self.up = False
        self._subscribe: list[str] = []
        self._unsubscribe: list[str] = []
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._request_id = 0
        self._thread = threading.Thread(target=self._run, name=f"binance-slot-{index}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def change(self, added: list[str], removed: list[str]) -> None:
        """Record symbols to (un)subscribe; the slot's thread sends them, paced, on its open socket."""
        with self._lock:
            self.symbols.update(added)
            self.symbols.difference_update(removed)
            self._subscribe.extend(added)
            self._unsubscribe.extend(removed)

    def kill(self, reason: str) -> None:
        conn = self._conn
        if conn is not None:
            conn.die(reason)

    @property
    def age_limit(self) -> float:
        """Staggered per slot: 12 steps of 1/48 of `max_age`, so rollovers never coincide."""
        max_age = self.pool.options.max_age
        return max_age - (self.index % 12) * max_age / 48

    def _run(self) -> None:
        failures = 0
        connects = 0
        stop = self.pool.stop
        while not stop.is_set():
            with self._lock:
                symbols = sorted(self.symbols)
                self._subscribe.clear()
                self._unsubscribe.clear()
            if not symbols:
                stop.wait(0.5)  # every symbol of this slot was delisted; wait for new ones
                continue
            if not self.pool.attempts.acquire(stop):
                break
            if connects:
                self.pool.on_reconnect()
            healthy = self._session(symbols, reconnect=connects > 0)
            connects += 1
            failures = 0 if healthy else failures + 1
            if stop.is_set():
                break
            delay = self._delay(failures)
            log.info("Binance connection %d: reconnecting in %.1f s", self.index, delay)
            stop.wait(delay)

    def _delay(self, failures: int) -> float:
        """Exponential backoff with jitter, capped."""
        options = self.pool.options
        ceiling = min(options.backoff_cap, options.backoff * 2.0 ** min(failures, 16))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _session(self, symbols: list[str], reconnect: bool) -> bool:
        """One connection from connect to death; True when it carried traffic (resets the backoff)."""
        streams = [trade_stream(symbol) for symbol in symbols]
        self.pool.inbox.put(Opened(self.index, tuple(symbols), reconnect))
        try:
            conn = self._connect(streams)
        except Exception as exc:
            log.warning("Binance connection %d: cannot connect: %s", self.index, exc)
            return False
        self._conn = conn
        opened = time.monotonic()
        self.up = True
        self.pool.state_changed()
        log.info("Binance connection %d: connected, %d streams", self.index, len(streams))
        try:
            # Evenly spaced, not bursts: Binance counts arrivals, and a burst at each window edge can
            # arrive as twice the rate.
            pacer = SlidingWindow(1, 1.0 / CONTROL_MESSAGES_PER_SECOND)
            self._send(conn, pacer, streams, subscribe=True)
            self._watch(conn, pacer, opened)
        except Exception as exc:
            conn.die(f"{type(exc).__name__}: {exc}")
        finally:
            self.up = False
            self._conn = None
            self.pool.state_changed()
            conn.close()
        if not self.pool.stop.is_set():
            log.warning("Binance connection %d lost (%s)", self.index, conn.reason)
        return conn.messages > 0 or time.monotonic() - opened > self.pool.options.silence_timeout

    def _watch(self, conn: Connection, pacer: SlidingWindow, opened: float) -> None:
        """Until the socket dies: ping, notice silence, send listing changes, roll over before 24 hours.

        Pings count towards Binance's 5 incoming messages a second: never more than two a second.
        """
        stop = self.pool.stop
        silence = self.pool.options.silence_timeout
        every = max(silence / 3, 0.5)
        pinged = time.monotonic()
        while not conn.dead.wait(0.1) and not stop.is_set():
            now = time.monotonic()
            if now - pinged >= every:
                pinged = now
                conn.ping()
            if conn.silent_for() > silence:
                conn.die(f"nothing received for {silence:.0f} s")
            with self._lock:
                added, self._subscribe = self._subscribe, []
                removed, self._unsubscribe = self._unsubscribe, []
            self._send(conn, pacer, [trade_stream(s) for s in removed], subscribe=False)
            self._send(conn, pacer, [trade_stream(s) for s in added], subscribe=True)
            if added:
                self.pool.inbox.put(Opened(self.index, tuple(added), True))
            if time.monotonic() - opened > self.age_limit:
                conn.die("rolling over before Binance's 24-hour disconnect")

    def _send(self, conn: Connection, pacer: SlidingWindow, streams: list[str], *, subscribe: bool) -> None:
        for start in range(0, len(streams), STREAMS_PER_MESSAGE):
            if not pacer.acquire(self.pool.stop) or conn.dead.is_set():
                return
            batch = streams[start : start + STREAMS_PER_MESSAGE]
            self._request_id += 1
            if subscribe:
                conn.subscribe(batch, self._request_id)
            else:
                conn.unsubscribe(batch, self._request_id)

    def _connect(self, streams: list[str]) -> Connection:
        """Open a socket on the URL form that last worked; on a refused handshake try the next form.

        The form that works is remembered by the pool, so reconnects go straight to it.
        """
        urls = stream_urls(self.pool.stream_url, streams)
        refusal: Exception | None = None
        for _ in urls:
            url = urls[self.pool.url_choice % len(urls)]
            try:
                return Connection(
                    url, self.pool.options.silence_timeout, self.pool.inbox, self.index, self.pool.reader
                )
            except Exception as exc:
                if not is_handshake_refusal(exc):
                    raise
                log.info("Binance stream: %s refused the connection (%s)", url.split("?")[0], exc)
                self.pool.url_choice += 1
                refusal = exc
        assert refusal is not None  # `urls` is never empty
        raise refusal
