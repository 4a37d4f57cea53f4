"""The asyncio driver of one DTC connection: socket bytes to `ServerProtocol` and back, plus the database.

Every protocol rule lives in `protocol.ServerProtocol`; this module only does I/O: it reads the socket,
runs the protocol's timer, looks series up and builds snapshots in worker threads, streams history
answers, and forwards live trades and quotes from the `TickHub`. Outgoing bytes go through a bounded
`Outbox`: live updates are offered without waiting (a client that falls too far behind is dropped, so it
never slows the hub's other clients), history waits for room (a large answer is paced by its reader).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from mdtool.dtc import feed, history, replies
from mdtool.dtc import messages as m
from mdtool.dtc.codec import encode_quotes, encode_trades
from mdtool.dtc.errors import LocalProtocolError
from mdtool.dtc.feed import Series
from mdtool.dtc.live import Quote, Sink, TickHub, Trade
from mdtool.dtc.outbox import Outbox
from mdtool.dtc.protocol import (
    Clock,
    ProtocolConfig,
    Request,
    RequestReceived,
    ServerProtocol,
    Unsubscribed,
    name,
    reject_history,
)
from mdtool.dtc.replies import SYMBOL_EXCHANGE_DELIMITER
from mdtool.dtc.stats import ServerStats
from mdtool.errors import DatabaseError, MdtoolError

log = logging.getLogger(__name__)
_INTERNAL = "internal server error"


@dataclass(frozen=True)
class ServerConfig:
    """Server settings: logon rules, per-client queue limit (bytes), history chunk (rows), zlib level."""

    username: str | None = None
    password: str | None = None
    server_name: str = "mdtool"
    logon_timeout: float = 30.0
    queue_limit: int = 8 * 1024 * 1024
    history_page: int = 8192  # rows fetched, encoded and written at a time
    zlib_level: int = 1  # level 1: 4-5x the speed of 6 for 4 % more bytes on bar records

    @property
    def protocol(self) -> ProtocolConfig:
        return ProtocolConfig(self.username, self.password, self.server_name, self.logon_timeout)


@dataclass
class _Feed:
    """A live subscription: updates wait in `pending` until the snapshot is out, so none precedes it."""

    symbol_id: int
    series: Series
    pending: list[tuple[bytes, int]] | None = field(default_factory=list)


class Session:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        engine: Engine,
        hub: TickHub,
        config: ServerConfig,
        stats: ServerStats | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._reader, self._writer = reader, writer
        self._engine, self._hub, self._config = engine, hub, config
        self.stats = stats or ServerStats()
        peer = writer.get_extra_info("peername")  # None when the client reset before being accepted
        self._peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "unknown peer"
        self._protocol = ServerProtocol(config.protocol, clock)
        self._outbox = Outbox(writer, config.queue_limit)
        self._feeds: dict[int, _Feed] = {}
        self._sinks: dict[int, Sink] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer_changed = asyncio.Event()
        self._history_turn = asyncio.Lock()  # one history answer at a time, in request order
        self._counted = 0

    async def run(self) -> None:
        log.info("DTC client %s connected", self._peer)
        writer_task = asyncio.create_task(self._write())
        self._start(self._timers())
        try:
            await self._read_loop()
        except (ConnectionError, MdtoolError) as exc:
            log.info("DTC client %s: %s", self._peer, exc)
        except Exception:
            # One client's request must never take the listener down; it ends only this session.
            log.exception("DTC client %s: unexpected error; closing its connection", self._peer)
            self._protocol.logoff(_INTERNAL)
        finally:
            self._flush()
            await self._shutdown(writer_task)

    async def logoff(self, reason: str) -> None:
        """Tell the client the server is going away, then end the session."""
        self._protocol.logoff(reason)
        self._flush()

    async def _read_loop(self) -> None:
        while not self._protocol.closed:
            data = await self._reader.read(65536)
            for event in self._protocol.receive_data(data):
                if isinstance(event, RequestReceived):
                    await self._answer(event.request)
                elif isinstance(event, Unsubscribed):
                    self._stop_feed(event.symbol_id)
            self._flush()
            self._timer_changed.set()
        log.info("DTC client %s: %s", self._peer, self._protocol.close_reason)

    async def _timers(self) -> None:
        """Wake the protocol when it has timed work (heartbeats, silence); sleep until then."""
        while not self._protocol.closed:
            wake = self._protocol.next_timer()
            self._timer_changed.clear()
            delay = None if wake is None else max(0.0, wake - self._protocol.now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_changed.wait(), delay)
            self._protocol.tick()
            self._flush()

    async def _answer(self, request: Request) -> None:
        """A request that needs the database; our own failures are logged and answered with a reject."""
        if isinstance(request, m.HistoricalPriceDataRequest):
            self._start(self._history(request))
            return
        try:
            if isinstance(request, m.MarketDataRequest):
                await self._market_data(request)
            else:
                await self._security_definition(request)
        except DatabaseError as exc:
            self._reject(request, _unavailable(exc))
        except LocalProtocolError as exc:
            log.error("DTC client %s: cannot answer %s: %s", self._peer, type(request).__name__, exc)
            self._reject(request, _INTERNAL)

    def _reject(self, request: Request, text: str) -> None:
        if isinstance(request, m.MarketDataRequest):
            self._protocol.send(m.MarketDataReject(SymbolID=request.SymbolID, RejectText=text))
        elif isinstance(request, m.SecurityDefinitionForSymbolRequest):
            self._protocol.send(m.SecurityDefinitionReject(RequestID=request.RequestID, RejectText=text))
        else:
            self._protocol.send(reject_history(request.RequestID, text))
        self._flush()

    async def _market_data(self, request: m.MarketDataRequest) -> None:
        symbol_id = request.SymbolID
        series = await self._resolve(request.Symbol, request.Exchange)
        if series is None:
            text = f"unknown symbol {name(request.Symbol, request.Exchange)}: nothing stored"
            self._reject(request, text)
        elif request.RequestAction == m.SNAPSHOT:
            self._protocol.send(await self._snapshot(symbol_id, series))
        elif clash := self._protocol.subscribe(symbol_id, series):
            self._reject(request, clash)
        elif symbol_id in self._feeds:
            self._protocol.send(await self._snapshot(symbol_id, series))
        else:
            await self._start_feed(symbol_id, series)

    async def _start_feed(self, symbol_id: int, series: Series) -> None:
        sub = self._feeds[symbol_id] = _Feed(symbol_id, series)

        def deliver(data: bytes, count: int) -> None:
            if sub.pending is not None:
                sub.pending.append((data, count))
            else:
                self._push(data, count)

        def trades(batch: list[Trade]) -> None:
            try:
                data = encode_trades([(symbol_id, *t) for t in batch], self._protocol.encoding)
            except LocalProtocolError as exc:  # ours: the client is not told it did anything wrong
                log.error("DTC client %s: live trades not sent: %s", self._peer, exc)
                return
            deliver(data, len(batch))

        def quotes(batch: list[Quote]) -> None:
            try:
                data = encode_quotes([(symbol_id, *q) for q in batch], self._protocol.encoding)
            except LocalProtocolError as exc:
                log.error("DTC client %s: live quotes not sent: %s", self._peer, exc)
                return
            deliver(data, len(batch))

        self._sinks[symbol_id] = trades
        await self._hub.subscribe(series, trades, quotes)
        try:
            snapshot = await self._snapshot(symbol_id, series)
        except (DatabaseError, LocalProtocolError):
            self._protocol.unsubscribe(symbol_id)
            self._stop_feed(symbol_id)
            raise
        if self._feeds.get(symbol_id) is not sub:
            return
        self._protocol.send(snapshot)
        self._flush()
        pending, sub.pending = sub.pending or [], None
        for data, count in pending:
            self._push(data, count)

    def _stop_feed(self, symbol_id: int) -> None:
        sub = self._feeds.pop(symbol_id, None)
        sink = self._sinks.pop(symbol_id, None)
        if sub is not None and sink is not None:
            self._hub.unsubscribe(sub.series, sink)

    def _push(self, data: bytes, count: int) -> None:
        if self._protocol.closed or self._protocol.compressing:
            return
        self.stats.messages_sent += count
        if not self._outbox.offer(data):
            log.warning("dropping slow DTC client %s: %d bytes waiting", self._peer, self._outbox.queued)
            self._abort()

    async def _snapshot(self, symbol_id: int, series: Series) -> m.MarketDataSnapshot:
        now = datetime.now(UTC)
        session_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        summary = await asyncio.to_thread(feed.session_summary, self._engine, *series, session_start)
        return replies.snapshot(symbol_id, summary, session_start)

    async def _security_definition(self, request: m.SecurityDefinitionForSymbolRequest) -> None:
        series = await self._resolve(request.Symbol, request.Exchange)
        if series is None:
            self._reject(request, f"unknown symbol {name(request.Symbol, request.Exchange)}: nothing stored")
            return
        places = await asyncio.to_thread(feed.price_places, self._engine, *series)
        self._protocol.send(replies.security_definition(request.RequestID, series, places))

    async def _history(self, request: m.HistoricalPriceDataRequest) -> None:
        try:
            async with self._history_turn:
                reason = await self._answer_history(request)
        except DatabaseError as exc:
            reason = _unavailable(exc)
        except LocalProtocolError as exc:
            log.error("DTC client %s: historical request %d: %s", self._peer, request.RequestID, exc)
            reason = _INTERNAL
        except ConnectionError:
            return
        except Exception:
            # A task's exception is otherwise only logged at shutdown, and the client would wait forever.
            log.exception("DTC client %s: historical request %d failed", self._peer, request.RequestID)
            reason = _INTERNAL
        if reason is not None:
            self._reject(request, reason)

    async def _answer_history(self, request: m.HistoricalPriceDataRequest) -> str | None:
        """Stream the answer; returns the reject text instead when the request cannot be served."""
        if not history.supported(request.RecordInterval):
            return f"unsupported RecordInterval {request.RecordInterval} s"
        series = await self._resolve(request.Symbol, request.Exchange)
        if series is None:
            return f"unknown symbol {name(request.Symbol, request.Exchange)}: nothing stored"
        options = history.HistoryOptions(self._config.history_page, self._config.zlib_level)
        answer = history.HistoryAnswer(self._engine, series, request, self._protocol.encoding, options)
        try:
            await answer.prepare()
        except BaseException:
            answer.close()
            raise
        header = answer.header
        self._protocol.send(header)
        self._flush()
        if header.NoRecordsToReturn:
            answer.close()
            return None
        if header.UseZLibCompression:
            self._protocol.start_compressed()
        async with contextlib.aclosing(answer.chunks()) as chunks:
            async for chunk in chunks:
                if self._protocol.closed:
                    raise ConnectionError("client disconnected")
                await self._outbox.send(chunk)
        self.stats.messages_sent += answer.records
        self.stats.history_records_sent += answer.records
        log.info(
            "DTC client %s: sent %d historical records of %s%s",
            self._peer,
            answer.records,
            name(series[1], series[0]),
            f", zlib {answer.raw_bytes:,} -> {answer.sent_bytes:,} bytes" if answer.compressed else "",
        )
        if header.UseZLibCompression:
            self._protocol.end_compressed()
            self._outbox.close()
        return None

    async def _resolve(self, symbol: str, exchange: str) -> Series | None:
        """Find the stored series a client means, with or without the Exchange field."""
        if not symbol:
            return None
        if exchange:
            found = await asyncio.to_thread(feed.series_exists, self._engine, exchange, symbol)
            return (exchange, symbol) if found else None
        exchanges = await asyncio.to_thread(feed.exchanges_of, self._engine, symbol)
        if len(exchanges) == 1:
            return exchanges[0], symbol
        base, delimiter, suffix = symbol.rpartition(SYMBOL_EXCHANGE_DELIMITER)
        if delimiter and base and not exchanges:
            return await self._resolve(base, suffix)
        return None

    def _flush(self) -> None:
        """Move what the protocol produced to the outbox; a client too far behind is dropped."""
        sent = self._protocol.messages_out
        self.stats.messages_sent += sent - self._counted
        self._counted = sent
        data = self._protocol.data_to_send()
        if data and not self._outbox.offer(data):
            log.warning("dropping slow DTC client %s: its queue is full", self._peer)
            self._abort()
        if self._protocol.closed:
            self._outbox.close()

    async def _write(self) -> None:
        """Write until the session closes; closing the socket then ends the read loop too."""
        try:
            await self._outbox.run()
        finally:
            self._writer.close()

    def _start(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _abort(self) -> None:
        """Drop the client now: linger 0 makes the close a reset, discarding what the kernel still holds."""
        if not self._protocol.closed:
            self.stats.clients_dropped_slow += 1
        self._protocol.abort("too slow: its queue is full")
        self._outbox.close()
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._writer.transport.abort()

    async def _shutdown(self, writer_task: asyncio.Task[None]) -> None:
        for symbol_id in list(self._feeds):
            self._stop_feed(symbol_id)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._outbox.close()
        try:
            await asyncio.wait_for(writer_task, 5.0)
        except (TimeoutError, ConnectionError):
            self._writer.transport.abort()
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
        log.info("DTC client %s disconnected", self._peer)


def _unavailable(error: DatabaseError) -> str:
    """Reject text for a request the database could not answer; the details go to the log."""
    log.warning("DTC request failed: %s", error)
    return "market data database unavailable, try again later"


__all__ = ["ServerConfig", "Session"]
