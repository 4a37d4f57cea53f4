"""The live Binance trade stream (`TickStream`): one combined-stream socket, reconnects, REST gap fill.

binance-connector's `SpotWebsocketStreamClient` reads on its own thread and never reconnects, so this
module owns the connection life cycle:

* one connection to `/stream` subscribed to `<symbol>@trade` for every symbol (one SUBSCRIBE message);
  events arrive wrapped as `{"stream": ..., "data": ...}`;
* the reader thread only timestamps and queues raw text; parsing, sequencing and delivery happen on the
  caller's thread, so the socket is drained even while a REST gap fill runs;
* pings are answered with a copy of their payload (websocket-client does it as Binance asks; the
  connector adds an empty pong, which Binance allows), and we ping the server ourselves, so a socket
  that stays silent past `silence_timeout` (no trades, pings or pongs) is treated as dead;
* any close, error, silence or `serverShutdown` notice (and Binance's 24-hour disconnect) leads to
  a reconnect with exponential backoff and jitter, and after every connect `TradeSequencer.catch_up`
  fills what was missed from `historicalTrades` (public on Binance; weight 25 per 1000 trades).
  `aggTrades` was not used: its ids are aggregate ids, not the trade ids (`t`) the table is keyed on.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient

from mdtool.adapters.binance.parse import (
    EXCHANGE,
    is_server_shutdown,
    parse_rest_trade,
    parse_trade_event,
    unwrap_stream_message,
)
from mdtool.adapters.binance.rest import BinanceBanned, BinanceRest
from mdtool.adapters.binance.sequence import TradeSequencer
from mdtool.errors import ExchangeError
from mdtool.records import Tick
from mdtool.sources import StreamStatus, TickSink

log = logging.getLogger(__name__)
_ws_log = logging.getLogger(__name__ + ".socket")
# The connector logs every close, even one we asked for, as a warning; `_session` reports real losses.
_ws_log.setLevel(logging.ERROR)

FILL_PAGE = 1000
_CLOSED = object()


class _Connection:
    """One socket: connector callbacks feed a queue; `dead` is set on close, error or silence."""

    def __init__(self, stream_url: str, streams: list[str], silence_timeout: float) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.dead = threading.Event()
        self.reason = ""
        self._keepalive = threading.Thread(
            target=self._ping_loop, args=(silence_timeout / 3,), name="binance-ws-keepalive", daemon=True
        )
        self.client = SpotWebsocketStreamClient(
            stream_url=stream_url,
            is_combined=True,
            on_message=self._on_message,
            on_close=self._on_close,
            on_error=self._on_error,
            timeout=silence_timeout,
            logger=_ws_log,
        )
        try:
            _skip_redundant_utf8_check(self.client.socket_manager.ws)
            self.client.subscribe(streams)
        except Exception:
            self.close()
            raise
        self._keepalive.start()

    def _on_message(self, _manager: object, text: str) -> None:
        self.queue.put((time.time(), text))

    def _on_close(self, _manager: object) -> None:
        self._die("server closed the connection")

    def _on_error(self, _manager: object, error: Exception) -> None:
        self._die(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)

    def _die(self, reason: str) -> None:
        if not self.dead.is_set():
            self.reason = reason
            self.dead.set()
            self.queue.put(_CLOSED)

    def _ping_loop(self, every: float) -> None:
        """Our pings make a live server answer with pongs, so only a dead socket goes silent."""
        while not self.dead.wait(every):
            try:
                self.client.ping()
            except Exception as exc:
                self._die(f"ping failed: {exc}")

    def close(self) -> None:
        """Close politely, but do not wait long for a peer that may be gone."""
        self._die("closed by mdtool")
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


class BinanceTradeStream:
    """`TickStream` over Binance's raw trade streams, gap-free across reconnects."""

    exchange = EXCHANGE

    def __init__(
        self,
        rest: BinanceRest,
        stream_url: str,
        last_trade_id: Callable[[str], int | None],
        *,
        silence_timeout: float = 30.0,
        backoff: float = 0.5,
        backoff_cap: float = 30.0,
    ) -> None:
        self.rest = rest
        self.stream_url = stream_url
        self.last_trade_id = last_trade_id
        self.silence_timeout = silence_timeout
        self.backoff = backoff
        self.backoff_cap = backoff_cap

    def run(
        self, symbols: Sequence[str], sink: TickSink, stop: threading.Event, status: StreamStatus
    ) -> None:
        """Deliver every trade of `symbols` to `sink` until `stop` is set."""
        try:
            names = [self.rest.resolve_symbol(symbol) for symbol in symbols]

            def deliver(tick: Tick) -> None:
                sink(tick)
                with status.lock:
                    status.trades += 1

            def filled(count: int) -> None:
                with status.lock:
                    status.gaps_filled += count

            last_ids = {name: self.last_trade_id(name) for name in names}
            sequencer = TradeSequencer(last_ids, self._fetch, deliver, FILL_PAGE, stop, filled)
            self._reconnect_loop(names, sequencer, stop, status)
        finally:
            self.rest.close()
            with status.lock:
                status.connected = False
                status.message = "stopped"

    def _reconnect_loop(
        self, names: list[str], sequencer: TradeSequencer, stop: threading.Event, status: StreamStatus
    ) -> None:
        """Sessions back to back, with exponential backoff and jitter after ones that carried nothing."""
        streams = [f"{name.lower()}@trade" for name in names]
        failures = 0
        connects = 0
        while not stop.is_set():
            if connects:
                with status.lock:
                    status.reconnects += 1
            connects += 1
            healthy = self._session(streams, names, sequencer, stop, status)
            failures = 0 if healthy else failures + 1
            if stop.is_set():
                break
            ceiling = min(self.backoff_cap, self.backoff * 2 ** min(failures, 16))
            delay = ceiling / 2 + random.uniform(0, ceiling / 2)
            with status.lock:
                status.connected = False
                status.message = f"reconnecting in {delay:.1f} s"
            log.info("Binance stream: reconnecting in %.1f s", delay)
            stop.wait(delay)

    def _fetch(self, symbol: str, from_id: int) -> list[Tick]:
        return [
            parse_rest_trade(row, symbol) for row in self.rest.historical_trades(symbol, from_id, FILL_PAGE)
        ]

    def _session(
        self,
        streams: list[str],
        names: list[str],
        sequencer: TradeSequencer,
        stop: threading.Event,
        status: StreamStatus,
    ) -> bool:
        """One connection from connect to death; True when it carried traffic (resets the backoff)."""
        try:
            conn = _Connection(self.stream_url, streams, self.silence_timeout)
        except Exception as exc:
            log.warning("Binance stream: cannot connect to %s: %s", self.stream_url, exc)
            with status.lock:
                status.message = f"connect failed: {exc}"
            return False
        log.info("Binance stream: connected, subscribed to %s", ", ".join(streams))
        with status.lock:
            status.connected = True
            status.message = "connected"
        delivered = 0
        opened = time.monotonic()
        try:
            for name in names:
                sequencer.catch_up(name)
            delivered = self._pump(conn, sequencer, stop, status)
        except BinanceBanned:
            raise
        except ExchangeError as exc:
            log.warning("Binance stream: gap fill failed (%s); reconnecting", exc)
        finally:
            conn.close()
        if not stop.is_set():
            log.warning("Binance stream: connection lost (%s) after %d trades", conn.reason, delivered)
        return delivered > 0 or time.monotonic() - opened > self.silence_timeout

    def _pump(
        self, conn: _Connection, sequencer: TradeSequencer, stop: threading.Event, status: StreamStatus
    ) -> int:
        """Parse and deliver queued messages until the socket dies or `stop` is set."""
        delivered = 0
        while not stop.is_set():
            try:
                item = conn.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _CLOSED:
                break
            received, text = item
            try:
                message = json.loads(text)
            except ValueError:
                log.warning("Binance stream: not JSON: %s", text[:200])
                continue
            event = unwrap_stream_message(message)
            if event is None:
                if is_server_shutdown(message):
                    log.info("Binance stream: server announced a shutdown; reconnecting now")
                    conn.reason = "serverShutdown"
                    break
                _log_control(message)
                continue
            try:
                tick = parse_trade_event(event)
            except (KeyError, TypeError, ValueError) as exc:
                # Not delivered, so the sequencer fills this id over REST before the next trade.
                log.warning("Binance stream: skipping malformed trade %s (%s)", str(event)[:200], exc)
                continue
            sequencer.accept(tick)
            delivered += 1
            with status.lock:
                status.last_lag_seconds = received - event["T"] / 1000
        return delivered


def _log_control(message: Any) -> None:
    """Subscription acks are routine; errors and unknown events are worth a line."""
    if isinstance(message, dict) and "result" in message and "error" not in message:
        log.debug("Binance stream: %s", message)
    else:
        log.warning("Binance stream: unexpected message %s", str(message)[:300])
