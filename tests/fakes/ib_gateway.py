"""A fake IB Gateway on loopback that speaks the TWS API wire protocol at server version 178.

Frames are a 4-byte big-endian length followed by NUL-terminated text fields, after the `API\\0` +
`v<min>..<max>` handshake; everything is written from the public protocol facts in
`shared/reference/tws-api-wire.md`, so the real, unmodified ib_async drives it.

It answers the start-up requests ib_async sends in `connectAsync`, contract details (unknown contract is
error 200, several matches are all returned), historical bars (generated deterministically, the
in-progress bar included as IB does, `keepUpToDate` subscriptions, step-size limits), tick-by-tick
subscriptions fed by `push_trade` / `push_bid_ask`, and injected errors. It **enforces IB's historical
pacing rules** measured at server receive time: a violating request gets error 162 and is recorded in
`violations`, which tests assert to be empty. The rule windows are configurable (`PacingRules`) so that
tests can run them scaled down.

Failure knobs: `drop_connections()` (hard reset of every client socket), `stop_listening()` /
`start_listening()` (gateway down / restarted on the same port), `send_error()` (1100/1101/1102...),
`drop_on_next(msg)` (reset the socket when that request arrives), `ignore` (message ids left unanswered,
as by a minimal gateway) and `pace_head_timestamps` (count reqHeadTimeStamp as a historical request).
The server runs its own asyncio loop in a thread; every public method is thread-safe. Run it standalone
with `python -m tests.fakes.ib_gateway --port 4001`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

SERVER_VERSION = 178
MIN_CLIENT_VERSION = 157
log = logging.getLogger(__name__)
ACCOUNT = "DU1234567"
PACING_TEXT = "Historical Market Data Service error message:Historical data request pacing violation"
NO_DATA_TEXT = "Historical Market Data Service error message:HMDS query returned no data: {sym}@{exch} {what}"
TOO_LONG_TEXT = "Historical Market Data Service error message:Time length exceed max."
BAD_BAR_SIZE_TEXT = "Error validating request:-'bP' : cause - Historical data bar size setting is invalid."
NO_SECDEF_TEXT = "No security definition has been found for the request"

BAR_SECONDS: dict[str, int] = {
    "1 secs": 1, "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30,
    "1 min": 60, "2 mins": 120, "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900,
    "20 mins": 1200, "30 mins": 1800, "1 hour": 3600, "2 hours": 7200, "3 hours": 10800,
    "4 hours": 14400, "8 hours": 28800, "1 day": 86400, "1 week": 604800, "1 month": 2678400,
}  # fmt: skip
DURATION_UNIT_SECONDS = {"S": 1, "D": 86400, "W": 604800, "M": 2592000, "Y": 31536000}
# IB's step-size table: (longest duration in seconds, smallest bar, largest bar) in seconds.
STEP_TABLE: tuple[tuple[int, int, int], ...] = (
    (60, 1, 60), (120, 1, 120), (1800, 1, 1800), (3600, 5, 3600), (14400, 10, 10800),
    (28800, 30, 28800), (86400, 60, 86400), (172800, 120, 86400), (604800, 180, 604800),
    (2592000, 1800, 2678400), (31536000, 86400, 2678400),
)  # fmt: skip


@dataclass(frozen=True)
class PacingRules:
    """IB's historical-data pacing limits; defaults are IB's numbers, tests pass scaled-down windows."""

    identical_seconds: float = 15.0
    burst_seconds: float = 2.0
    burst_max: int = 5
    window_seconds: float = 600.0
    window_max: int = 60


@dataclass(frozen=True)
class FakeContract:
    """One instrument the fake gateway knows."""

    con_id: int
    symbol: str
    sec_type: str = "STK"
    primary_exchange: str = "NASDAQ"
    currency: str = "USD"
    exchanges: tuple[str, ...] = ("SMART", "NASDAQ")
    expiry: str = ""
    local_symbol: str = ""
    trading_class: str = ""
    multiplier: str = ""
    long_name: str = ""
    base_price: Decimal = Decimal("100")


@dataclass
class HistoricalRequest:
    req_id: int
    con_id: int
    symbol: str
    exchange: str
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int
    keep_up_to_date: bool
    received_at: float
    session: int


@dataclass
class TickSubscription:
    req_id: int
    contract: FakeContract
    tick_type: str
    session: int


@dataclass
class _Session:
    number: int
    writer: asyncio.StreamWriter
    client_id: int = -1


def encode(*fields: object) -> bytes:
    """One framed message: big-endian length, then each field as text plus NUL."""
    payload = b"".join(_text(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(payload)) + payload


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def default_bar(contract: FakeContract, opened: datetime, seconds: int) -> tuple[str, ...]:
    """Deterministic OHLCV for a bar: open, high, low, close, volume, WAP, count as wire strings."""
    step = int(opened.timestamp()) // max(seconds, 1)
    base = contract.base_price + Decimal(step % 97) / 100
    high, low, close = base + Decimal("0.50"), base - Decimal("0.25"), base + Decimal("0.10")
    volume = 100 + step % 13
    return (
        str(base),
        str(high),
        str(low),
        str(close),
        str(volume),
        str(base + Decimal("0.05")),
        str(step % 7 + 1),
    )


class FakeIBGateway:
    """The fake gateway; use as a context manager or call `start()` / `close()`."""

    def __init__(
        self,
        contracts: Iterable[FakeContract] = (),
        *,
        pacing: PacingRules = PacingRules(),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        history_start: datetime = datetime(2020, 1, 1, tzinfo=UTC),
        next_valid_id: int = 1,
        bar: Callable[[FakeContract, datetime, int], tuple[str, ...]] = default_bar,
    ) -> None:
        self.contracts = list(contracts)
        self.pacing = pacing
        self.now = now
        self.history_start = history_start
        self.next_valid_id = next_valid_id
        self.bar = bar
        self.ignore: set[int] = set()
        self.pace_head_timestamps = False
        self.port = 0
        self.received: list[tuple[int, list[str]]] = []
        self.historical_requests: list[HistoricalRequest] = []
        self.violations: list[str] = []
        self.subscriptions: dict[tuple[int, int], TickSubscription] = {}
        self.connections_total = 0
        self._historical_errors: list[tuple[int, str]] = []
        self._drop_on: set[int] = set()
        self._sessions: dict[int, _Session] = {}
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-ib-gateway", daemon=True)
        self._server: asyncio.Server | None = None

    # ----------------------------------------------------------------- lifecycle (thread-safe)
    def __enter__(self) -> FakeIBGateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._thread.start()
        self.start_listening()

    def close(self) -> None:
        self.stop_listening()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def start_listening(self) -> None:
        """Accept connections (again, on the same port after `stop_listening`)."""
        self._call(self._listen())

    def stop_listening(self) -> None:
        """Gateway down: close the listener and reset every client connection."""
        self._call(self._unlisten())

    def drop_connections(self) -> None:
        """Hard-reset every client socket (as when the gateway process dies)."""
        self._call(self._drop())

    # ----------------------------------------------------------------- scripting (thread-safe)
    def fail_next_historical(self, code: int = 162, text: str = PACING_TEXT, times: int = 1) -> None:
        """Answer the next `times` historical requests with an error instead of bars."""
        with self._cond:
            self._historical_errors.extend([(code, text)] * times)

    def drop_on_next(self, msg_id: int) -> None:
        """Reset the client's socket, unanswered, when the next request with `msg_id` arrives."""
        with self._cond:
            self._drop_on.add(msg_id)

    def send_error(self, req_id: int, code: int, text: str) -> None:
        """Send an error message (with the empty advancedOrderRejectJson field) to every client."""
        self._broadcast(encode(4, 2, req_id, code, text, ""))

    def push_trade(
        self, symbol: str, epoch: int, price: str, size: str, exchange: str = "NASDAQ", mask: int = 0
    ) -> int:
        """Send one trade to every Last/AllLast subscriber of `symbol`; returns how many got it."""
        subs = self._subs(symbol, ("Last", "AllLast"))
        for sub in subs:
            kind = 1 if sub.tick_type == "Last" else 2
            self._send(sub.session, encode(99, sub.req_id, kind, epoch, price, size, mask, exchange, ""))
        return len(subs)

    def push_bid_ask(
        self, symbol: str, epoch: int, bid: str, ask: str, bid_size: str, ask_size: str, mask: int = 0
    ) -> int:
        """Send one quote to every BidAsk subscriber of `symbol`; returns how many got it."""
        subs = self._subs(symbol, ("BidAsk",))
        for sub in subs:
            self._send(sub.session, encode(99, sub.req_id, 3, epoch, bid, ask, bid_size, ask_size, mask))
        return len(subs)

    def push_bar_update(self, req_id: int, opened: datetime, ohlc: tuple[str, str, str, str]) -> None:
        """A keepUpToDate update (message 90) for the subscription `req_id`."""
        o, h, low, c = ohlc
        for request in self.historical_requests:
            if request.req_id == req_id and request.keep_up_to_date:
                stamp = str(int(opened.timestamp()))
                self._send(request.session, encode(90, req_id, 1, stamp, o, c, h, low, o, "10"))

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until `predicate()` holds (re-checked on every received message) or fail."""
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(f"fake IB gateway: condition not met within {timeout} s")

    def wait_for_subscriptions(self, count: int, timeout: float = 5.0) -> None:
        self.wait_until(lambda: len(self.subscriptions) >= count, timeout)

    # ----------------------------------------------------------------- internals
    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        future.result(5)

    def _subs(self, symbol: str, kinds: tuple[str, ...]) -> list[TickSubscription]:
        with self._cond:
            return [
                s for s in self.subscriptions.values() if s.contract.symbol == symbol and s.tick_type in kinds
            ]

    def _broadcast(self, frame: bytes) -> None:
        for number in list(self._sessions):
            self._send(number, frame)

    def _send(self, session: int, frame: bytes) -> None:
        def write() -> None:
            found = self._sessions.get(session)
            if found is not None and not found.writer.is_closing():
                found.writer.write(frame)

        self._loop.call_soon_threadsafe(write)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        await self._drop()

    async def _drop(self) -> None:
        for session in list(self._sessions.values()):
            session.writer.transport.abort()
        self._sessions.clear()
        with self._cond:
            self.subscriptions.clear()
            self._cond.notify_all()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._cond:
            self.connections_total += 1
            session = _Session(self.connections_total, writer)
        self._sessions[session.number] = session
        try:
            if await reader.readexactly(4) != b"API\0":
                return
            versions = (await self._read_frame(reader)).split(" ", 1)[0].lstrip("v")
            low, _, high = versions.partition("..")
            if int(high or low) < MIN_CLIENT_VERSION:
                return
            writer.write(
                encode(min(int(high or low), SERVER_VERSION), "20260101 12:00:00 Greenwich Mean Time")
            )
            while True:
                fields = (await self._read_frame(reader)).split("\0")[:-1]
                with self._cond:
                    self.received.append((session.number, fields))
                    self._handle(session, fields)
                    self._cond.notify_all()
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._forget(session)
            writer.close()

    def _forget(self, session: _Session) -> None:
        self._sessions.pop(session.number, None)
        with self._cond:
            for key in [k for k in self.subscriptions if k[0] == session.number]:
                del self.subscriptions[key]
            self._cond.notify_all()

    @staticmethod
    async def _read_frame(reader: asyncio.StreamReader) -> str:
        (size,) = struct.unpack(">I", await reader.readexactly(4))
        return (await reader.readexactly(size)).decode()

    def _handle(self, session: _Session, fields: list[str]) -> None:
        """Dispatch one client message (caller holds the condition lock)."""
        out = session.writer.write
        msg = int(fields[0])
        if msg in self._drop_on:
            self._drop_on.discard(msg)
            session.writer.transport.abort()
            return
        if msg in self.ignore:
            return
        if msg == 71:
            self._start_api(session, int(fields[2]))
        elif msg == 61:
            out(encode(62, 1))
        elif msg == 5:
            out(encode(53, 1))
        elif msg == 99:
            out(encode(102))
        elif msg == 6 and fields[2] == "1":
            out(encode(54, 1, fields[3]))
        elif msg == 76:
            out(encode(74, 1, fields[2]))
        elif msg == 7:
            out(encode(55, 1, fields[2]))
        elif msg == 49:
            out(encode(49, 1, int(self.now().timestamp())))
        elif msg == 62:
            out(encode(64, 1, fields[2]))
        elif msg == 87:
            self._head_timestamp(session, fields)
        elif msg == 9:
            self._contract_details(session, fields)
        elif msg == 20:
            self._historical(session, fields)
        elif msg == 25:
            self.historical_requests = [
                r
                for r in self.historical_requests
                if not (r.session == session.number and r.req_id == int(fields[2]))
            ]
        elif msg == 97:
            self._tick_by_tick(session, fields)
        elif msg == 98:
            self.subscriptions.pop((session.number, int(fields[1])), None)
        # anything else (reqMktDataType, cancelHeadTimeStamp, ...) is accepted and ignored

    def _start_api(self, session: _Session, client_id: int) -> None:
        if any(s.client_id == client_id for s in self._sessions.values() if s is not session):
            text = "Unable to connect as the client id is already in use. Retry with a unique client id."
            session.writer.write(encode(4, 2, -1, 326, text, ""))
            session.writer.close()
            return
        session.client_id = client_id
        write = session.writer.write
        write(encode(15, 1, ACCOUNT))
        write(encode(9, 1, self.next_valid_id))
        write(encode(4, 2, -1, 2104, "Market data farm connection is OK:usfarm", ""))
        write(encode(4, 2, -1, 2106, "HMDS data farm connection is OK:ushmds", ""))

    def _lookup(self, c: list[str]) -> list[FakeContract]:
        """Contracts matching a contract12 field list (conId, symbol, secType, expiry, ... currency)."""
        con_id, symbol, sec_type, expiry, exchange, currency, local = (
            int(c[0] or 0), c[1].upper(), c[2], c[3], c[7], c[9], c[10]
        )  # fmt: skip
        if con_id:
            return [k for k in self.contracts if k.con_id == con_id]
        if not symbol and not local:
            return []  # IB needs at least a symbol or a local symbol
        return [
            k
            for k in self.contracts
            if (not symbol or k.symbol == symbol)
            and (not local or k.local_symbol == local)
            and (not sec_type or k.sec_type == sec_type)
            and (not currency or k.currency == currency)
            and (not exchange or exchange in k.exchanges)
            and (not expiry or k.expiry.startswith(expiry))
        ]

    def _contract_details(self, session: _Session, fields: list[str]) -> None:
        req_id = fields[2]
        found = self._lookup(fields[3:15])
        if not found:
            session.writer.write(encode(4, 2, req_id, 200, NO_SECDEF_TEXT, ""))
            return
        requested_exchange = fields[10]
        for k in found:
            exchange = requested_exchange if requested_exchange in k.exchanges else k.exchanges[0]
            session.writer.write(
                encode(
                    10, req_id, k.symbol, k.sec_type, k.expiry, 0, "", exchange, k.currency,
                    k.local_symbol or k.symbol, k.trading_class or k.symbol, k.trading_class or k.symbol,
                    k.con_id, "0.01", k.multiplier, "LMT,MKT", ",".join(k.exchanges), 1, 0,
                    k.long_name or k.symbol, k.primary_exchange, k.expiry[:6], "", "", "", "US/Eastern",
                    "", "", "", "", 0, "", "", "", "26", k.expiry, "COMMON", "1", "1", "100",
                )
            )  # fmt: skip
        session.writer.write(encode(52, 1, req_id))

    def _historical(self, session: _Session, fields: list[str]) -> None:
        req_id = int(fields[1])
        found = self._lookup(fields[2:14])
        request = HistoricalRequest(
            req_id=req_id, con_id=found[0].con_id if found else 0, symbol=fields[3], exchange=fields[9],
            end=fields[15], bar_size=fields[16], duration=fields[17], use_rth=fields[18] == "1",
            what_to_show=fields[19], format_date=int(fields[20] or 1), keep_up_to_date=fields[21] == "1",
            received_at=time.monotonic(), session=session.number,
        )  # fmt: skip
        problem = self._pacing_problem(request)
        self.historical_requests.append(request)
        write = session.writer.write
        if problem:
            self.violations.append(f"req {req_id}: {problem}")
            write(encode(4, 2, req_id, 162, PACING_TEXT, ""))
            return
        if self._historical_errors:
            code, text = self._historical_errors.pop(0)
            write(encode(4, 2, req_id, code, text, ""))
            return
        if len(found) != 1:
            write(encode(4, 2, req_id, 200, NO_SECDEF_TEXT, ""))
            return
        if request.bar_size not in BAR_SECONDS:
            write(encode(4, 2, req_id, 321, BAD_BAR_SIZE_TEXT, ""))
            return
        span = _duration_seconds(request.duration)
        if span is None or not _step_allowed(span, BAR_SECONDS[request.bar_size]):
            write(encode(4, 2, req_id, 162, TOO_LONG_TEXT, ""))
            return
        end = self.now() if not request.end else _parse_end(request.end)
        rows = self._bars(found[0], request, end - timedelta(seconds=span), min(end, self.now()))
        if not rows:
            text = NO_DATA_TEXT.format(
                sym=found[0].symbol, exch=request.exchange, what=request.what_to_show.title()
            )
            write(encode(4, 2, req_id, 162, text, ""))
            return
        stamp = end.strftime("%Y%m%d %H:%M:%S")
        write(encode(17, req_id, stamp, stamp, len(rows), *[f for row in rows for f in row]))

    def _bars(
        self, contract: FakeContract, request: HistoricalRequest, start: datetime, end: datetime
    ) -> list[tuple[str, ...]]:
        seconds = BAR_SECONDS[request.bar_size]
        rows: list[tuple[str, ...]] = []
        for opened in _bar_opens(seconds, max(start, self.history_start), end):
            values = self.bar(contract, opened, seconds)
            if request.what_to_show in ("MIDPOINT", "BID", "ASK"):
                values = (*values[:4], "-1", "-1", "-1")
            if seconds >= 86400:
                label = opened.strftime("%Y%m%d")
            elif request.format_date == 2:
                label = str(int(opened.timestamp()))
            else:
                label = opened.strftime("%Y%m%d %H:%M:%S UTC")
            rows.append((label, *values))
        return rows

    def _head_timestamp(self, session: _Session, fields: list[str]) -> None:
        """Answer with `history_start`; paced like a historical request when `pace_head_timestamps`."""
        req_id = int(fields[1])
        if self.pace_head_timestamps:
            found = self._lookup(fields[2:14])
            request = HistoricalRequest(
                req_id=req_id, con_id=found[0].con_id if found else 0, symbol=fields[3], exchange=fields[9],
                end="head", bar_size="", duration="", use_rth=fields[15] == "1", what_to_show=fields[16],
                format_date=int(fields[17] or 1), keep_up_to_date=False, received_at=time.monotonic(),
                session=session.number,
            )  # fmt: skip
            problem = self._pacing_problem(request)
            self.historical_requests.append(request)
            if problem:
                self.violations.append(f"req {req_id} (head timestamp): {problem}")
                session.writer.write(encode(4, 2, req_id, 162, PACING_TEXT, ""))
                return
        session.writer.write(encode(88, req_id, int(self.history_start.timestamp())))

    def _pacing_problem(self, request: HistoricalRequest) -> str | None:
        """Which of IB's three pacing rules this request breaks, judged at server receive time."""
        rules, now = self.pacing, request.received_at
        weight = 2 if request.what_to_show == "BID_ASK" else 1
        identity = _identity(request)
        for earlier in reversed(self.historical_requests):
            if now - earlier.received_at < rules.identical_seconds and _identity(earlier) == identity:
                return f"identical request within {rules.identical_seconds} s"
        same = [
            r
            for r in self.historical_requests
            if now - r.received_at < rules.burst_seconds and _tick_type(r) == _tick_type(request)
        ]
        if len(same) + 1 > rules.burst_max:
            return f"more than {rules.burst_max} requests for one contract within {rules.burst_seconds} s"
        recent = sum(
            2 if r.what_to_show == "BID_ASK" else 1
            for r in self.historical_requests
            if now - r.received_at < rules.window_seconds
        )
        if recent + weight > rules.window_max:
            return f"more than {rules.window_max} requests within {rules.window_seconds} s"
        return None

    def _tick_by_tick(self, session: _Session, fields: list[str]) -> None:
        req_id = int(fields[1])
        found = self._lookup(fields[2:14])
        if len(found) != 1:
            session.writer.write(encode(4, 2, req_id, 200, NO_SECDEF_TEXT, ""))
            return
        self.subscriptions[(session.number, req_id)] = TickSubscription(
            req_id, found[0], fields[14], session.number
        )


def _identity(r: HistoricalRequest) -> tuple[object, ...]:
    return (r.con_id, r.exchange, r.end, r.bar_size, r.duration, r.use_rth, r.what_to_show, r.keep_up_to_date)


def _tick_type(r: HistoricalRequest) -> tuple[object, ...]:
    """IB's "same contract, exchange and tick type" key of the 2-second burst rule."""
    return (r.con_id, r.exchange, r.what_to_show)


def _duration_seconds(duration: str) -> int | None:
    count, _, unit = duration.strip().partition(" ")
    if not count.isdigit() or unit not in DURATION_UNIT_SECONDS:
        return None
    return int(count) * DURATION_UNIT_SECONDS[unit]


def _step_allowed(span: int, bar: int) -> bool:
    """IB's step table: the first row at least as long as the span bounds the bar size."""
    for longest, smallest, largest in STEP_TABLE:
        if span <= longest:
            return smallest <= bar <= largest
    return bar >= 86400


def _parse_end(text: str) -> datetime:
    """`YYYYMMDD HH:MM:SS UTC` (what ib_async sends for aware datetimes) or `YYYYMMDD-HH:MM:SS`."""
    body = text.removesuffix(" UTC").replace("-", " ")
    return datetime.strptime(body, "%Y%m%d %H:%M:%S").replace(tzinfo=UTC)


def _bar_opens(seconds: int, start: datetime, end: datetime) -> list[datetime]:
    """Bar open times on IB's grid in [start, end); `end` is capped at now, so the in-progress bar is in."""
    if seconds == 2678400:
        current = datetime(start.year, start.month, 1, tzinfo=UTC)
        current = current if current >= start else _next_month(current)
    elif seconds == 604800:
        monday = datetime.combine(start.date() - timedelta(days=start.weekday()), datetime.min.time(), UTC)
        current = monday if monday >= start else monday + timedelta(weeks=1)
    else:
        current = datetime.fromtimestamp(-(-int(start.timestamp()) // seconds) * seconds, UTC)
    opens: list[datetime] = []
    while current < end:
        opens.append(current)
        current = _next_month(current) if seconds == 2678400 else current + timedelta(seconds=seconds)
    return opens


def _next_month(moment: datetime) -> datetime:
    return (moment.replace(day=28) + timedelta(days=4)).replace(day=1)


__all__ = [
    "ACCOUNT",
    "FakeContract",
    "FakeIBGateway",
    "HistoricalRequest",
    "PacingRules",
    "TickSubscription",
    "encode",
]


DEMO_CONTRACTS = (
    FakeContract(265598, "AAPL", long_name="APPLE INC"),
    FakeContract(272093, "MSFT", long_name="MICROSOFT CORP"),
    FakeContract(12087792, "EUR", "CASH", "IDEALPRO", "USD", ("IDEALPRO",), local_symbol="EUR.USD"),
)


def main() -> None:
    """Serve the demo contracts on a fixed port, with one AAPL trade per second for any subscriber."""
    parser = argparse.ArgumentParser(description="Fake IB Gateway (TWS API, server version 178)")
    parser.add_argument("--port", type=int, default=4001)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    gateway = FakeIBGateway(DEMO_CONTRACTS)
    gateway.port = args.port
    with gateway:
        log.info("fake IB Gateway listening on 127.0.0.1:%d", gateway.port)
        try:
            while True:
                time.sleep(1)
                gateway.push_trade("AAPL", int(time.time()), "189.12", "100")
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
