"""The server side of one DTC connection as a pure state machine: bytes and clock ticks in, bytes out.

Like h11 for HTTP, this owns every protocol rule and does no I/O: the encoding handshake, logon and
credentials, heartbeat timing (against an injected clock), logoff, the SymbolID rules of subscriptions,
and which requests a client may make. What needs the database (series lookups, snapshots, history) is
handed to the caller as an event; the caller answers through `send`. The asyncio driver in `session.py`
moves bytes between this object and a socket; the tests drive it directly, without sockets or sleeps.

Whose fault a failure is decides the answer (see `errors.py`): a peer that breaks the protocol gets a
LOGOFF with DoNotReconnect; a failure of ours is the caller's to log and answer with a reject.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Protocol

from mdtool.dtc import messages as m
from mdtool.dtc.codec import SUPPORTED_ENCODINGS, Decoder, encode
from mdtool.dtc.replies import SYMBOL_EXCHANGE_DELIMITER, logon_accepted
from mdtool.errors import ProtocolError

Series = tuple[str, str]  # (exchange, symbol)
Request = m.MarketDataRequest | m.SecurityDefinitionForSymbolRequest | m.HistoricalPriceDataRequest
_SLACK = 0.5  # seconds of grace past two heartbeat intervals


class Clock(Protocol):
    """Where the session reads time: `monotonic` for timers, `time` for the wall clock on the wire."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


@dataclass(frozen=True)
class ProtocolConfig:
    """Logon rules: required credentials (None = open), the name announced, the wait for a logon."""

    username: str | None = None
    password: str | None = None
    server_name: str = "mdtool"
    logon_timeout: float = 30.0


@dataclass(frozen=True)
class RequestReceived:
    """A request the caller must answer (it passed the protocol's own checks: logon, action)."""

    request: Request


@dataclass(frozen=True)
class Unsubscribed:
    """The client ended a subscription: the caller stops its live feed."""

    symbol_id: int
    series: Series


@dataclass(frozen=True)
class ConnectionClosed:
    """The session is over: `reason` for the log. Whatever `data_to_send` still holds goes out first."""

    reason: str


Event = RequestReceived | Unsubscribed | ConnectionClosed


class ServerProtocol:
    """One connection's protocol state: feed `receive_data`/`tick`, act on events, write `data_to_send`."""

    def __init__(self, config: ProtocolConfig, clock: Clock | None = None) -> None:
        self._config = config
        self._clock = clock or SystemClock()
        self._decoder = Decoder()
        self._out: list[bytes] = []
        self.messages_out = 0
        self.encoding = m.BINARY_ENCODING
        self.logged_on = False
        self.closed = False
        self.close_reason = ""
        self.heartbeat_interval = 0
        self._first_data = True
        self._compressing = False
        now = self._clock.monotonic()
        self._last_received = now
        self._next_heartbeat: float | None = None
        self._subscriptions: dict[int, Series] = {}

    # -- input -------------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        """Bytes from the peer (b"" = it closed its side); returns what the caller must act on."""
        if self.closed:
            return []
        self._last_received = self._clock.monotonic()
        events: list[Event] = []
        try:
            if not data:
                self._decoder.close()
                return [*events, self._close("client closed the connection")]
            if self._first_data:
                self._detect_json(data)
            self._decoder.feed(data)
            while not self.closed and (message := self._decoder.next()) is not None:
                events.extend(self._handle(message))
        except ProtocolError as exc:
            self._goodbye(f"protocol error: {exc}", do_not_reconnect=True)
            events.append(self._close(f"protocol error: {exc}"))
        return events

    def tick(self) -> list[Event]:
        """Call at `next_timer()`: sends a due heartbeat, or ends a session whose peer went silent."""
        if self.closed:
            return []
        now = self._clock.monotonic()
        deadline = self._silence_deadline()
        if deadline is not None and now >= deadline:
            silence = f"no message for {now - self._last_received:.0f} s"
            self._goodbye(f"{silence}: heartbeat timeout", do_not_reconnect=False)
            return [self._close(f"{silence}: heartbeat timeout")]
        if self._next_heartbeat is not None and now >= self._next_heartbeat:
            self.send(m.Heartbeat(CurrentDateTime=int(self._clock.time())))  # not inside a zlib stream
            self._next_heartbeat = now + self.heartbeat_interval
        return []

    def now(self) -> float:
        """The injected clock's monotonic time, for a driver that sleeps until `next_timer()`."""
        return self._clock.monotonic()

    def next_timer(self) -> float | None:
        """Monotonic time at which `tick` has work, or None."""
        times = [t for t in (self._silence_deadline(), self._next_heartbeat) if t is not None]
        return min(times) if times and not self.closed else None

    # -- output ------------------------------------------------------------------------------------

    def send(self, message: m.Message) -> None:
        """Queue `message` in the session's encoding (raises LocalProtocolError if it cannot be).

        Nothing is queued once the session is closed, or while a zlib stream is being written: the
        connection ends with that stream, and a plain message inside it would corrupt it.
        """
        if self.closed or self._compressing:
            return
        self._out.append(encode(message, self.encoding))
        self.messages_out += 1

    def data_to_send(self) -> bytes:
        data = b"".join(self._out)
        self._out.clear()
        return data

    def logoff(self, reason: str) -> ConnectionClosed:
        """The server ends the session (shutting down): the client may reconnect later."""
        self._goodbye(reason, do_not_reconnect=False)
        return self._close(reason)

    def abort(self, reason: str) -> ConnectionClosed:
        """End without a goodbye (the peer is gone or too slow to be told)."""
        self._out.clear()
        return self._close(reason)

    # -- answers the caller builds with the protocol's rules ----------------------------------------

    @property
    def authorised(self) -> bool:
        """Without configured credentials a client may skip logon (a Sierra Chart option)."""
        return self.logged_on or self._config.username is None

    def subscribe(self, symbol_id: int, series: Series) -> str | None:
        """Register a subscription; returns the reject text when the SymbolID rules forbid it."""
        for sid, other in self._subscriptions.items():
            if other == series and sid != symbol_id:
                return f"{name(series[1], series[0])} is already subscribed as SymbolID {sid}"
            if sid == symbol_id and other != series:
                return f"SymbolID {symbol_id} is already used for {name(other[1], other[0])}"
        self._subscriptions[symbol_id] = series
        return None

    def subscribed(self, symbol_id: int) -> Series | None:
        return self._subscriptions.get(symbol_id)

    @property
    def subscriptions(self) -> dict[int, Series]:
        return dict(self._subscriptions)

    def unsubscribe(self, symbol_id: int) -> Series | None:
        return self._subscriptions.pop(symbol_id, None)

    def start_compressed(self) -> None:
        """What follows is one zlib stream: no heartbeat may be written into it."""
        self._compressing = True

    def end_compressed(self) -> ConnectionClosed:
        """A zlib stream has no room for another message after it: the connection ends with it."""
        self._compressing = False
        return self._close("compressed history sent")

    @property
    def compressing(self) -> bool:
        return self._compressing

    # -- internals ---------------------------------------------------------------------------------

    def _handle(self, message: m.Message) -> list[Event]:
        if isinstance(message, m.EncodingRequest):
            self._negotiate(message)
        elif isinstance(message, m.LogonRequest):
            self._logon(message)
        elif isinstance(message, m.Logoff):
            return [self._close(f"client logged off: {message.Reason or 'no reason'}")]
        elif isinstance(message, m.MarketDataRequest):
            return self._market_data(message)
        elif isinstance(message, m.SecurityDefinitionForSymbolRequest):
            if not self.authorised:
                self.send(m.SecurityDefinitionReject(RequestID=message.RequestID, RejectText="not logged on"))
                return []
            return [RequestReceived(message)]
        elif isinstance(message, m.HistoricalPriceDataRequest):
            if not self.authorised:
                self.send(reject_history(message.RequestID, "not logged on"))
                return []
            return [RequestReceived(message)]
        return []  # heartbeats, and messages a server ignores

    def _detect_json(self, data: bytes) -> None:
        """A client preset to JSON may skip the (binary) encoding request and start with `{`.

        A binary first message is an ENCODING_REQUEST or LOGON_REQUEST, whose Size bytes are never `{"`
        (that would be a Size of 8827), so switching is safe.
        """
        self._first_data = False
        if data[:2] == b'{"':
            self._switch(m.JSON_ENCODING)

    def _negotiate(self, request: m.EncodingRequest) -> None:
        """Answer in the current encoding, then switch: the client reads the reply the old way."""
        chosen = request.Encoding if request.Encoding in SUPPORTED_ENCODINGS else self.encoding
        self.send(m.EncodingResponse(Encoding=chosen))
        self._switch(chosen)

    def _switch(self, encoding: int) -> None:
        self.encoding = encoding
        self._decoder.set_encoding(encoding)

    def _logon(self, request: m.LogonRequest) -> None:
        if not self._credentials_match(request):
            refused = "invalid username or password"
            self.send(m.LogonResponse(Result=m.LOGON_ERROR_NO_RECONNECT, ResultText=refused))
            self._close(f"logon refused for user {request.Username!r}")
            return
        first = not self.logged_on
        self.logged_on = True
        self.heartbeat_interval = max(request.HeartbeatIntervalInSeconds, 0)
        self.send(logon_accepted(self._config.server_name))
        if first and self.heartbeat_interval > 0:
            self._next_heartbeat = self._clock.monotonic() + self.heartbeat_interval

    def _credentials_match(self, request: m.LogonRequest) -> bool:
        if self._config.username is None:
            return True
        user_ok = hmac.compare_digest(request.Username.encode(), self._config.username.encode())
        password_ok = hmac.compare_digest(request.Password.encode(), (self._config.password or "").encode())
        return user_ok and password_ok

    def _market_data(self, request: m.MarketDataRequest) -> list[Event]:
        symbol_id = request.SymbolID
        if request.RequestAction == m.UNSUBSCRIBE:
            series = self._subscriptions.pop(symbol_id, None)
            return [] if series is None else [Unsubscribed(symbol_id, series)]
        if not self.authorised:
            self.send(m.MarketDataReject(SymbolID=symbol_id, RejectText="not logged on"))
            return []
        if request.RequestAction not in (m.SUBSCRIBE, m.SNAPSHOT, m.SNAPSHOT_WITH_INTERVAL_UPDATES):
            text = f"unsupported RequestAction {request.RequestAction}"
            self.send(m.MarketDataReject(SymbolID=symbol_id, RejectText=text))
            return []
        return [RequestReceived(request)]

    def _silence_deadline(self) -> float | None:
        if not self.logged_on:
            return self._last_received + self._config.logon_timeout
        if self.heartbeat_interval > 0:
            return self._last_received + 2 * self.heartbeat_interval + _SLACK
        return None

    def _goodbye(self, reason: str, do_not_reconnect: bool) -> None:
        """LOGOFF with the reason, so the client can show why instead of a bare close."""
        self.send(m.Logoff(Reason=reason, DoNotReconnect=int(do_not_reconnect)))

    def _close(self, reason: str) -> ConnectionClosed:
        if not self.closed:
            self.closed, self.close_reason = True, reason
        return ConnectionClosed(self.close_reason)


def reject_history(request_id: int, text: str) -> m.HistoricalPriceDataReject:
    return m.HistoricalPriceDataReject(
        RequestID=request_id, RejectText=text, RejectReasonCode=m.HPDR_GENERAL_REJECT_ERROR
    )


def name(symbol: str, exchange: str) -> str:
    return f"{symbol}{SYMBOL_EXCHANGE_DELIMITER}{exchange}" if exchange else symbol
