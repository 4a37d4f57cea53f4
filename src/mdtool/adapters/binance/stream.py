"""The live Binance trade stream (`TickStream`): a whole market over many connections, gap-free.

binance-connector's `SpotWebsocketStreamClient` reads on its own thread and never reconnects, so this
package owns the life cycle. The parts, each in its own module:

* `listing`/`refresh`: the symbols come from a `Selection` (explicit names, `--all`, `--quote`,
  patterns, `--shard`) resolved against `exchangeInfo`, and re-resolved hourly and after reconnects;
* `pool`: symbols are spread over connections of at most `streams_per_connection` streams, each
  reconnecting on its own within Binance's WebSocket limits (see `pacing`);
* `sequence`: one consumer thread (this module) reads every connection's messages from one inbox,
  decodes each read's messages at once (`decode`, msgspec) and passes the trades through the
  sequencer, which drops duplicates and turns jumps in trade ids into holes;
* `gapfill`: one thread fills holes over `historicalTrades` within the process-wide request-weight
  budget, biggest first, while live trades keep flowing; what cannot be filled is recorded through a
  `HoleLedger` (the database) and retried by the next run.

Binance unreachable at start (or later) is waited out with backoff and a status message, as a daemon
should; only answers that retrying cannot change (unknown symbol, an empty selection, a 418 ban) end
the stream. `aggTrades` was not used: its ids are aggregate ids, not the trade ids (`t`) the table is
keyed on.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from mdtool.adapters.binance.connection import Inbox
from mdtool.adapters.binance.decode import DecodedRead, TradeDecoder
from mdtool.adapters.binance.gapfill import GapFiller
from mdtool.adapters.binance.holes import HoleBook
from mdtool.adapters.binance.listing import parse_listing
from mdtool.adapters.binance.pacing import (
    ATTEMPT_WINDOW_SECONDS,
    ATTEMPTS_PER_WINDOW,
    DEFAULT_STREAMS_PER_CONNECTION,
    MAX_STREAMS_PER_CONNECTION,
    SlidingWindow,
)
from mdtool.adapters.binance.parse import (
    EXCHANGE,
    is_server_shutdown,
    parse_rest_trade,
)
from mdtool.adapters.binance.pool import ConnectionPool, Opened, PoolOptions
from mdtool.adapters.binance.reader import Reader
from mdtool.adapters.binance.refresh import ListingRefresher
from mdtool.adapters.binance.rest import BinanceRest, BinanceUnavailable
from mdtool.adapters.binance.sequence import TradeSequencer
from mdtool.errors import UsageError
from mdtool.records import Tick
from mdtool.selection import Selection
from mdtool.sources import HoleLedger, StreamStatus, TickSink

log = logging.getLogger(__name__)

FILL_PAGE = 1000


class BinanceTradeStream:
    """`TickStream` over Binance's raw trade streams for any number of symbols, gap-free."""

    exchange = EXCHANGE
    accepts_selection = True

    def __init__(
        self,
        rest: BinanceRest,
        stream_url: str,
        last_trade_id: Callable[[str], int | None],
        *,
        holes: HoleLedger | None = None,
        streams_per_connection: int = DEFAULT_STREAMS_PER_CONNECTION,
        silence_timeout: float = 30.0,
        backoff: float = 0.5,
        backoff_cap: float = 10.0,
        max_connection_age: float = 23 * 3600.0,
        refresh_interval: float = 3600.0,
        refresh_after_reconnect: float = 60.0,
        fill_patience: float = 900.0,
        attempts: SlidingWindow | None = None,
    ) -> None:
        if not 1 <= streams_per_connection <= MAX_STREAMS_PER_CONNECTION:
            raise UsageError(
                f"--streams-per-connection must be 1..{MAX_STREAMS_PER_CONNECTION} (Binance's limit), "
                f"got {streams_per_connection}"
            )
        self.rest = rest
        self.stream_url = stream_url
        self.last_trade_id = last_trade_id
        self.holes = holes
        self.streams_per_connection = streams_per_connection
        self.options = PoolOptions(silence_timeout, backoff, backoff_cap, max_connection_age)
        self.refresh_interval = refresh_interval
        self.refresh_after_reconnect = refresh_after_reconnect
        self.fill_patience = fill_patience
        self.attempts = attempts or SlidingWindow(ATTEMPTS_PER_WINDOW, ATTEMPT_WINDOW_SECONDS)
        self.pool: ConnectionPool | None = None
        self.reader: Reader | None = None
        self.refresher: ListingRefresher | None = None

    def run(
        self,
        symbols: Sequence[str] | Selection,
        sink: TickSink,
        stop: threading.Event,
        status: StreamStatus,
    ) -> None:
        """Deliver every trade of the selected symbols to `sink` until `stop` is set."""
        selection = symbols if isinstance(symbols, Selection) else Selection.from_arguments(list(symbols))
        self.rest.cancel_waits_on(stop)
        halt = threading.Event()
        threads: list[threading.Thread] = []
        try:
            names = self._resolve(selection, stop, status)
            if names is None:
                return
            self._run(selection, names, sink, stop, halt, status, threads)
        finally:
            halt.set()
            for thread in threads:
                thread.join(timeout=10)
            if self.pool is not None:
                self.pool.join(timeout=5)
            if self.reader is not None:
                self.reader.join(timeout=5)
            self.rest.close()
            with status.lock:
                status.connected = False
                status.connections_up = 0
                status.message = "stopped"

    def _run(
        self,
        selection: Selection,
        names: list[str],
        sink: TickSink,
        stop: threading.Event,
        halt: threading.Event,
        status: StreamStatus,
        threads: list[threading.Thread],
    ) -> None:
        def filled(count: int) -> None:
            with status.lock:
                status.gaps_filled += count
                status.trades += count

        book = HoleBook(self.holes, status)
        filler: GapFiller | None = None
        sequencer = TradeSequencer(
            {name: self.last_trade_id(name) for name in names},
            sink,
            lambda hole: filler.add(hole) if filler is not None else None,
        )
        filler = GapFiller(
            sequencer,
            self._fetch,
            halt,
            record=book.record,
            on_filled=filled,
            on_recorded_hole_filled=book.filled,
            page_size=FILL_PAGE,
            patience=self.fill_patience,
        )
        for hole in book.recorded(names):
            filler.add(hole)
        inbox = Inbox(halt)

        def reconnected() -> None:
            with status.lock:
                status.reconnects += 1

        reader = self.reader = Reader(halt).start()
        pool = self.pool = ConnectionPool(
            self.stream_url,
            inbox,
            halt,
            capacity=self.streams_per_connection,
            attempts=self.attempts,
            options=self.options,
            reader=reader,
            on_reconnect=reconnected,
            on_state=lambda up, total: _connections(status, up, total),
        )
        refresher = self.refresher = ListingRefresher(
            self.rest,
            selection,
            names,
            pool,
            sequencer,
            self.last_trade_id,
            interval=self.refresh_interval,
            after_reconnect=self.refresh_after_reconnect,
        )
        threads.append(threading.Thread(target=filler.run, name="binance-gap-fill", daemon=True))
        if selection.selects_from_listing:
            threads.append(
                threading.Thread(target=refresher.run, args=(halt,), name="binance-listing", daemon=True)
            )
        for thread in threads:
            thread.start()
        log.info(
            "Binance stream: %d symbols on %d connections",
            len(names),
            -(-len(names) // self.streams_per_connection),
        )
        pool.add(names)
        self._consume(inbox, sequencer, filler, refresher, stop, status)

    def _resolve(self, selection: Selection, stop: threading.Event, status: StreamStatus) -> list[str] | None:
        """The selected symbols from `exchangeInfo`, retried while Binance is unreachable; None when stopped.

        An unknown symbol, an empty selection (`UsageError`) or a ban is raised at once: waiting cannot
        fix either.
        """
        failures = 0
        while not stop.is_set():
            try:
                listing = parse_listing(self.rest.exchange_info())
            except BinanceUnavailable as exc:
                if stop.is_set():
                    break
                failures += 1
                ceiling = min(self.options.backoff_cap, self.options.backoff * 2.0 ** min(failures, 16))
                delay = ceiling / 2 + random.uniform(0, ceiling / 2)
                log.warning("Binance stream: cannot start (%s); retrying in %.1f s", exc, delay)
                with status.lock:
                    status.message = f"Binance unreachable; retry {failures} in {delay:.0f} s"
                stop.wait(delay)
                continue
            listed = {entry.symbol for entry in listing}
            unknown = [symbol for symbol in selection.symbols if symbol not in listed]
            if unknown:
                raise UsageError(
                    f"unknown Binance symbol{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
                )
            return selection.resolve(listing)
        return None

    def _fetch(self, symbol: str, from_id: int, limit: int) -> list[Tick]:
        rows = self.rest.historical_trades(symbol, from_id, limit)
        return [parse_rest_trade(row, symbol) for row in rows]

    def _consume(
        self,
        inbox: Inbox,
        sequencer: TradeSequencer,
        filler: GapFiller,
        refresher: ListingRefresher,
        stop: threading.Event,
        status: StreamStatus,
    ) -> None:
        """Decode and sequence every connection's messages until `stop` is set."""
        next_report = 0.0
        decoder = TradeDecoder()
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_report:
                next_report = now + 0.25
                self._report(filler, refresher, status)
            try:
                item = inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            if type(item) is Opened:
                sequencer.reconnected(item.symbols)
                if item.reconnect:
                    refresher.poke()
                continue
            tag, received, texts = item
            self._handle(tag, received, decoder.decode(texts), sequencer, status)

    def _handle(
        self, tag: int, received: float, read: DecodedRead, sequencer: TradeSequencer, status: StreamStatus
    ) -> None:
        """One read's messages: trades to sequence, control replies, shutdown notices, malformed ones."""
        for message, reason in read.malformed:
            # Not delivered, so the next trade of the symbol opens a hole that REST fills.
            log.warning("Binance stream: skipping malformed message %s (%s)", str(message)[:200], reason)
        for message in read.others:
            if is_server_shutdown(message):
                log.info("Binance stream: connection %d announced a shutdown; reconnecting it now", tag)
                assert self.pool is not None
                self.pool.server_shutdown(tag)
            else:
                _log_control(message)
        if read.ticks:
            delivered = sequencer.accept_many(read.ticks, read.ids)
            with status.lock:
                status.trades += delivered
        if read.last_trade_ms is not None:
            status.last_lag_seconds = received - read.last_trade_ms / 1000

    def _report(self, filler: GapFiller, refresher: ListingRefresher, status: StreamStatus) -> None:
        """Aggregate figures for the status line and metrics."""
        assert self.pool is not None
        _connections(status, self.pool.up, self.pool.total)
        with status.lock:
            status.holes_pending = filler.pending
            status.weight_used = self.rest.gate.used
            status.symbols = len(refresher.current)


def _connections(status: StreamStatus, up: int, total: int) -> None:
    with status.lock:
        status.connections_up = up
        status.connections_total = total
        status.connected = total > 0 and up == total
        status.message = "connected" if status.connected else f"{up}/{total} connections up"


def _log_control(message: Any) -> None:
    """Subscription acks are routine; a refused `SUBSCRIBE` is expected from servers that only honour
    streams named in the URL; other errors and unknown events are worth a line."""
    if isinstance(message, dict) and "id" in message and "error" in message:
        log.info("Binance stream: reply to SUBSCRIBE (streams are also named in the URL): %s", message)
    elif isinstance(message, dict) and "result" in message:
        log.debug("Binance stream: %s", message)
    else:
        log.warning("Binance stream: unexpected message %s", str(message)[:300])
