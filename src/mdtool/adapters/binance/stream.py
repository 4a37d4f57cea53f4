"""The live Binance trade stream (`TickStream`): one combined-stream socket, reconnects, REST gap fill.

binance-connector's `SpotWebsocketStreamClient` reads on its own thread and never reconnects, so this
module owns the connection life cycle:

* one connection for every symbol's `<symbol>@trade` (see `connection` for how streams are chosen:
  named in the URL and subscribed to, so servers that honour either way work);
* Binance unreachable at start (or later) is waited out with backoff and a status message, as a
  daemon should; only answers that retrying cannot change (unknown symbol, 418 ban) end the stream;
* the reader thread only timestamps and queues raw text; parsing, sequencing and delivery happen on the
  caller's thread, so the socket is drained even while a REST gap fill runs;
* pings are answered with a copy of their payload (websocket-client does it as Binance asks; the
  connector adds an empty pong, which Binance allows), and we ping the server ourselves, so a socket
  that stays silent past `silence_timeout` (no trades, pings or pongs) is treated as dead;
* any close, error, silence or `serverShutdown` notice (and Binance's 24-hour disconnect) leads to
  a reconnect with exponential backoff and jitter, and after every connect `TradeSequencer.catch_up`
  fills what was missed from `historicalTrades` (public on Binance; weight 25 per 1000 trades).
  `aggTrades` was not used: its ids are aggregate ids, not the trade ids (`t`) the table is keyed on.
  If Binance refuses `historicalTrades` for good (older documentation makes it need an API key), holes
  are logged and left, and live trades keep flowing: a gap fill must never stop the stream.
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

from mdtool.adapters.binance.connection import (
    CLOSED,
    SUBSCRIBE_ID,
    Connection,
    is_handshake_refusal,
    stream_urls,
)
from mdtool.adapters.binance.parse import (
    EXCHANGE,
    is_server_shutdown,
    parse_rest_trade,
    parse_trade_event,
    unwrap_stream_message,
)
from mdtool.adapters.binance.rest import BinanceBanned, BinanceRefused, BinanceRest, BinanceUnavailable
from mdtool.adapters.binance.sequence import TradeSequencer
from mdtool.errors import ExchangeError
from mdtool.records import Tick
from mdtool.sources import StreamStatus, TickSink

log = logging.getLogger(__name__)

FILL_PAGE = 1000


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
        backoff_cap: float = 10.0,
    ) -> None:
        self.rest = rest
        self.stream_url = stream_url
        self.last_trade_id = last_trade_id
        self.silence_timeout = silence_timeout
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self._url_choice = 0
        self._fill_refused = False

    def run(
        self, symbols: Sequence[str], sink: TickSink, stop: threading.Event, status: StreamStatus
    ) -> None:
        """Deliver every trade of `symbols` to `sink` until `stop` is set."""
        self.rest.cancel_waits_on(stop)
        try:
            names = self._resolve(symbols, stop, status)
            if names is None:
                return

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

    def _resolve(
        self, symbols: Sequence[str], stop: threading.Event, status: StreamStatus
    ) -> list[str] | None:
        """Binance's names for `symbols`, retried while Binance is unreachable; None when stopped.

        An unknown symbol (`UsageError`) or a ban is raised at once: waiting cannot fix either.
        """
        failures = 0
        while not stop.is_set():
            try:
                return [self.rest.resolve_symbol(symbol) for symbol in symbols]
            except BinanceUnavailable as exc:
                if stop.is_set():
                    break
                failures += 1
                delay = self._delay(failures)
                log.warning("Binance stream: cannot start (%s); retrying in %.1f s", exc, delay)
                with status.lock:
                    status.message = f"Binance unreachable; retry {failures} in {delay:.0f} s"
                stop.wait(delay)
        return None

    def _delay(self, failures: int) -> float:
        """Exponential backoff with jitter, capped."""
        ceiling = min(self.backoff_cap, self.backoff * 2.0 ** min(failures, 16))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

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
            delay = self._delay(failures)
            with status.lock:
                status.connected = False
                status.message = f"reconnecting in {delay:.1f} s"
            log.info("Binance stream: reconnecting in %.1f s", delay)
            stop.wait(delay)

    def _fetch(self, symbol: str, from_id: int) -> list[Tick] | None:
        """A page of `historicalTrades`, or None once Binance has refused them for good."""
        if self._fill_refused:
            return None
        try:
            rows = self.rest.historical_trades(symbol, from_id, FILL_PAGE)
        except BinanceRefused as exc:
            self._fill_refused = True
            log.warning("Binance stream: missed trades cannot be filled from now on: %s", exc)
            return None
        return [parse_rest_trade(row, symbol) for row in rows]

    def _connect(self, streams: list[str]) -> Connection:
        """Open a socket on the URL form that last worked; on a refused handshake try the next form.

        The form that works is remembered, so reconnects go straight to it.
        """
        urls = stream_urls(self.stream_url, streams)
        refusal: Exception | None = None
        for _ in urls:
            url = urls[self._url_choice % len(urls)]
            try:
                return Connection(url, streams, self.silence_timeout)
            except Exception as exc:
                if not is_handshake_refusal(exc):
                    raise
                log.info("Binance stream: %s refused the connection (%s)", url, exc)
                self._url_choice += 1
                refusal = exc
        assert refusal is not None  # `urls` is never empty
        raise refusal

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
            conn = self._connect(streams)
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
        self, conn: Connection, sequencer: TradeSequencer, stop: threading.Event, status: StreamStatus
    ) -> int:
        """Parse and deliver queued messages until the socket dies or `stop` is set."""
        delivered = 0
        while not stop.is_set():
            try:
                item = conn.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is CLOSED:
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
    """Subscription acks are routine; a refused `SUBSCRIBE` is expected from servers that only honour
    streams named in the URL; other errors and unknown events are worth a line."""
    if isinstance(message, dict) and message.get("id") == SUBSCRIBE_ID:
        level = logging.DEBUG if "error" not in message else logging.INFO
        log.log(level, "Binance stream: reply to SUBSCRIBE (streams are also named in the URL): %s", message)
    elif isinstance(message, dict) and "result" in message and "error" not in message:
        log.debug("Binance stream: %s", message)
    else:
        log.warning("Binance stream: unexpected message %s", str(message)[:300])
