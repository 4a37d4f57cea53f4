"""One DTC client connection: encoding handshake, logon, heartbeats, market data and history.

The session reads and answers requests in order; live trades arrive from the `TickHub` through a sink
that only encodes and queues, so a slow client is dropped instead of slowing the hub's other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import struct
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from mdtool.dtc import feed, history, replies
from mdtool.dtc import messages as m
from mdtool.dtc.codec import SUPPORTED_ENCODINGS, Decoder, encode, encode_batch, encode_trades
from mdtool.dtc.feed import Series
from mdtool.dtc.live import Sink, TickHub, Trade
from mdtool.dtc.outbox import Outbox
from mdtool.dtc.replies import SYMBOL_EXCHANGE_DELIMITER
from mdtool.errors import DatabaseError, MdtoolError, ProtocolError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerConfig:
    username: str | None = None
    password: str | None = None
    server_name: str = "mdtool"
    logon_timeout: float = 30.0
    queue_limit: int = 8 * 1024 * 1024
    history_page: int = 5_000


@dataclass
class _Subscription:
    symbol_id: int
    series: Series
    pending: list[Trade] | None = field(default_factory=list)


class Session:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        engine: Engine,
        hub: TickHub,
        config: ServerConfig,
    ) -> None:
        self._reader, self._writer = reader, writer
        self._engine, self._hub, self._config = engine, hub, config
        peer = writer.get_extra_info("peername")  # None when the client reset before being accepted
        self._peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "unknown peer"
        self._outbox = Outbox(writer, config.queue_limit)
        self._decoder = Decoder()
        self._encoding = m.BINARY_ENCODING
        self._logged_on = False
        self._heartbeat_interval = 0
        self._subscriptions: dict[int, _Subscription] = {}
        self._sinks: dict[int, Sink] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._history_turn = asyncio.Lock()  # one history answer at a time, in request order

    async def run(self) -> None:
        log.info("DTC client %s connected", self._peer)
        writer_task = asyncio.create_task(self._write())
        try:
            await self._read_loop()
        except ProtocolError as exc:
            log.warning("DTC client %s: %s; closing", self._peer, exc)
            self._say_goodbye(f"protocol error: {exc}", do_not_reconnect=True)
        except (ConnectionError, MdtoolError) as exc:
            log.info("DTC client %s: %s", self._peer, exc)
        except Exception:
            # One client's request must never take the listener down; it ends only this session.
            log.exception("DTC client %s: unexpected error; closing its connection", self._peer)
            self._say_goodbye("internal server error", do_not_reconnect=False)
        finally:
            await self._shutdown(writer_task)

    def _say_goodbye(self, reason: str, do_not_reconnect: bool) -> None:
        """LOGOFF with the reason, so the client can show why it was disconnected instead of a bare close.

        After a protocol error, reconnecting would only repeat it, so the client is asked not to.
        """
        if not self._closing:
            self._send(m.Logoff(Reason=reason, DoNotReconnect=int(do_not_reconnect)))

    async def _write(self) -> None:
        """Write until the session closes; closing the socket then ends the read loop too."""
        try:
            await self._outbox.run()
        finally:
            self._writer.close()

    async def logoff(self, reason: str) -> None:
        """Tell the client the server is going away, then end the session."""
        self._send(m.Logoff(Reason=reason))
        self._close()

    async def _read_loop(self) -> None:
        first = True
        while not self._closing:
            try:
                data = await asyncio.wait_for(self._reader.read(65536), self._read_timeout())
            except TimeoutError:
                silence = f"no message for {self._read_timeout():.0f} s"
                log.info("DTC client %s: %s; closing", self._peer, silence)
                self._say_goodbye(f"{silence}: heartbeat timeout", do_not_reconnect=False)
                return
            if not data:
                self._decoder.close()
                return
            if first:
                self._detect_json(data)
                first = False
            self._decoder.feed(data)
            while not self._closing and (message := self._decoder.next()) is not None:
                await self._handle(message)

    def _detect_json(self, data: bytes) -> None:
        """A client preset to JSON may skip the (binary) encoding request and start with `{`.

        A binary first message is an ENCODING_REQUEST or LOGON_REQUEST, whose Size bytes are never `{"`
        (that would be a Size of 8827), so switching is safe.
        """
        if data[:2] == b'{"':
            self._encoding = m.JSON_ENCODING
            self._decoder.set_encoding(m.JSON_ENCODING)

    def _read_timeout(self) -> float | None:
        if not self._logged_on:
            return self._config.logon_timeout
        if self._heartbeat_interval > 0:
            return 2 * self._heartbeat_interval + 0.5
        return None

    async def _handle(self, message: m.Message) -> None:
        if isinstance(message, m.EncodingRequest):
            self._negotiate(message)
        elif isinstance(message, m.LogonRequest):
            self._logon(message)
        elif isinstance(message, m.Logoff):
            log.info("DTC client %s logged off: %s", self._peer, message.Reason or "no reason")
            self._close()
        elif isinstance(message, m.Heartbeat):
            return
        elif isinstance(message, m.MarketDataRequest):
            try:
                await self._market_data(message)
            except DatabaseError as exc:
                self._send(m.MarketDataReject(SymbolID=message.SymbolID, RejectText=_unavailable(exc)))
        elif isinstance(message, m.SecurityDefinitionForSymbolRequest):
            try:
                await self._security_definition(message)
            except DatabaseError as exc:
                self._send(
                    m.SecurityDefinitionReject(RequestID=message.RequestID, RejectText=_unavailable(exc))
                )
        elif isinstance(message, m.HistoricalPriceDataRequest):
            self._start(self._history(message))
        else:
            log.debug("DTC client %s sent %s, which a server ignores", self._peer, type(message).__name__)

    def _negotiate(self, request: m.EncodingRequest) -> None:
        """Answer in the current encoding, then switch: the client reads the reply the old way."""
        chosen = request.Encoding if request.Encoding in SUPPORTED_ENCODINGS else self._encoding
        self._send(m.EncodingResponse(Encoding=chosen))
        self._encoding = chosen
        self._decoder.set_encoding(chosen)

    def _logon(self, request: m.LogonRequest) -> None:
        if not self._credentials_match(request):
            log.warning("DTC client %s: logon refused for user %r", self._peer, request.Username)
            self._send(
                m.LogonResponse(Result=m.LOGON_ERROR_NO_RECONNECT, ResultText="invalid username or password")
            )
            self._close()
            return
        first = not self._logged_on
        self._logged_on = True
        self._heartbeat_interval = max(request.HeartbeatIntervalInSeconds, 0)
        self._send(replies.logon_accepted(self._config.server_name))
        log.info("DTC client %s (%s) logged on", self._peer, request.ClientName or "unnamed")
        if first and self._heartbeat_interval > 0:
            self._start(self._heartbeats())

    def _credentials_match(self, request: m.LogonRequest) -> bool:
        if self._config.username is None:
            return True
        user_ok = hmac.compare_digest(request.Username.encode(), self._config.username.encode())
        password_ok = hmac.compare_digest(request.Password.encode(), (self._config.password or "").encode())
        return user_ok and password_ok

    @property
    def _authorised(self) -> bool:
        """Without configured credentials a client may skip logon (a Sierra Chart option)."""
        return self._logged_on or self._config.username is None

    async def _heartbeats(self) -> None:
        while not self._closing:
            await asyncio.sleep(self._heartbeat_interval)
            self._send(m.Heartbeat(CurrentDateTime=int(time.time())))

    async def _market_data(self, request: m.MarketDataRequest) -> None:
        symbol_id = request.SymbolID
        if request.RequestAction == m.UNSUBSCRIBE:
            self._unsubscribe(symbol_id)
            return
        if not self._authorised:
            self._send(m.MarketDataReject(SymbolID=symbol_id, RejectText="not logged on"))
            return
        if request.RequestAction not in (m.SUBSCRIBE, m.SNAPSHOT, m.SNAPSHOT_WITH_INTERVAL_UPDATES):
            text = f"unsupported RequestAction {request.RequestAction}"
            self._send(m.MarketDataReject(SymbolID=symbol_id, RejectText=text))
            return
        series = await self._resolve(request.Symbol, request.Exchange)
        if series is None:
            text = f"unknown symbol {_name(request.Symbol, request.Exchange)}: nothing stored"
            self._send(m.MarketDataReject(SymbolID=symbol_id, RejectText=text))
            return
        if request.RequestAction == m.SNAPSHOT:
            self._send(await self._snapshot(symbol_id, series))
            return
        clash = self._clash(symbol_id, series)
        if clash:
            self._send(m.MarketDataReject(SymbolID=symbol_id, RejectText=clash))
            return
        if symbol_id in self._subscriptions:
            self._send(await self._snapshot(symbol_id, series))
            return
        await self._subscribe(symbol_id, series)

    def _clash(self, symbol_id: int, series: Series) -> str | None:
        for sub in self._subscriptions.values():
            if sub.series == series and sub.symbol_id != symbol_id:
                return f"{_name(series[1], series[0])} is already subscribed as SymbolID {sub.symbol_id}"
            if sub.symbol_id == symbol_id and sub.series != series:
                return f"SymbolID {symbol_id} is already used for {_name(sub.series[1], sub.series[0])}"
        return None

    async def _subscribe(self, symbol_id: int, series: Series) -> None:
        sub = _Subscription(symbol_id, series)
        self._subscriptions[symbol_id] = sub

        def sink(trades: list[Trade]) -> None:
            if sub.pending is not None:
                sub.pending.extend(trades)
            else:
                self._push(symbol_id, trades)

        self._sinks[symbol_id] = sink
        await self._hub.subscribe(series, sink)
        try:
            snapshot = await self._snapshot(symbol_id, series)
        except DatabaseError:
            self._unsubscribe(symbol_id)
            raise
        if self._subscriptions.get(symbol_id) is not sub:
            return
        self._send(snapshot)
        pending, sub.pending = sub.pending or [], None
        if pending:
            self._push(symbol_id, pending)

    def _unsubscribe(self, symbol_id: int) -> None:
        sub = self._subscriptions.pop(symbol_id, None)
        sink = self._sinks.pop(symbol_id, None)
        if sub is not None and sink is not None:
            self._hub.unsubscribe(sub.series, sink)

    def _push(self, symbol_id: int, trades: list[Trade]) -> None:
        if self._closing:
            return
        data = encode_trades([(symbol_id, *trade) for trade in trades], self._encoding)
        if not self._outbox.offer(data):
            log.warning(
                "dropping slow DTC client %s: %d bytes waiting to be sent", self._peer, self._outbox.queued
            )
            self._abort()

    async def _snapshot(self, symbol_id: int, series: Series) -> m.MarketDataSnapshot:
        now = datetime.now(UTC)
        session_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        summary = await asyncio.to_thread(feed.session_summary, self._engine, *series, session_start)
        return replies.snapshot(symbol_id, summary, session_start)

    async def _security_definition(self, request: m.SecurityDefinitionForSymbolRequest) -> None:
        request_id = request.RequestID
        if not self._authorised:
            self._send(m.SecurityDefinitionReject(RequestID=request_id, RejectText="not logged on"))
            return
        series = await self._resolve(request.Symbol, request.Exchange)
        if series is None:
            text = f"unknown symbol {_name(request.Symbol, request.Exchange)}: nothing stored"
            self._send(m.SecurityDefinitionReject(RequestID=request_id, RejectText=text))
            return
        exchange, symbol = series
        places = await asyncio.to_thread(feed.price_places, self._engine, exchange, symbol)
        self._send(replies.security_definition(request_id, series, places))

    async def _history(self, request: m.HistoricalPriceDataRequest) -> None:
        try:
            async with self._history_turn:
                reason = await self._answer_history(request)
        except DatabaseError as exc:
            reason = _unavailable(exc)
        except ConnectionError:
            return
        except Exception:
            # A task's exception is otherwise only logged at shutdown, and the client would wait forever.
            log.exception("DTC client %s: historical request %d failed", self._peer, request.RequestID)
            reason = "internal server error"
        if reason is not None:
            reject = m.HistoricalPriceDataReject(
                RequestID=request.RequestID, RejectText=reason, RejectReasonCode=m.HPDR_GENERAL_REJECT_ERROR
            )
            self._send(reject)

    async def _answer_history(self, request: m.HistoricalPriceDataRequest) -> str | None:
        """Stream the answer; returns the reject text instead when the request cannot be served."""
        if not self._authorised:
            return "not logged on"
        if not history.supported(request.RecordInterval):
            return f"unsupported RecordInterval {request.RecordInterval} s"
        series = await self._resolve(request.Symbol, request.Exchange)
        if series is None:
            return f"unknown symbol {_name(request.Symbol, request.Exchange)}: nothing stored"
        count = await history.answer(
            self._engine, series, request, self._send_paced, self._config.history_page
        )
        log.info(
            "DTC client %s: sent %d historical records of %s", self._peer, count, _name(series[1], series[0])
        )
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

    def _send(self, message: m.Message) -> None:
        if not self._outbox.offer(encode(message, self._encoding)):
            log.warning("dropping slow DTC client %s: its queue is full", self._peer)
            self._abort()

    async def _send_paced(self, messages: Sequence[m.Message]) -> None:
        if self._closing:
            raise ConnectionError("client disconnected")
        await self._outbox.send(encode_batch(messages, self._encoding))

    def _start(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _close(self) -> None:
        """Graceful end: what is queued is still written."""
        self._closing = True
        self._outbox.close()

    def _abort(self) -> None:
        """Drop the client now: linger 0 makes the close a reset, discarding what the kernel still holds."""
        self._closing = True
        self._outbox.close()
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._writer.transport.abort()

    async def _shutdown(self, writer_task: asyncio.Task[None]) -> None:
        self._closing = True
        for symbol_id in list(self._subscriptions):
            self._unsubscribe(symbol_id)
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


def _name(symbol: str, exchange: str) -> str:
    return f"{symbol}{SYMBOL_EXCHANGE_DELIMITER}{exchange}" if exchange else symbol
