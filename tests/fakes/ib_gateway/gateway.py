"""`FakeIBGateway`: the server, its sessions, the request dispatch and the failure knobs.

The server runs its own asyncio loop in a thread; every public method is thread-safe. State lives on
the gateway object; the request modules (`handshake`, `contracts`, `bars`, `pacing`, `tape`) build the
answers.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.fakes.ib_gateway import bars, handshake, tape
from tests.fakes.ib_gateway.contracts import NO_SECDEF_TEXT, FakeContract, contract_details, lookup
from tests.fakes.ib_gateway.pacing import PACING_TEXT, HistoricalRequest, PacingRules, pacing_problem
from tests.fakes.ib_gateway.tape import TRADE_TICK_TYPES, TapeQuote, TapeTrade, TickSubscription
from tests.fakes.ib_gateway.wire import encode, error, read_fields


@dataclass
class _Session:
    number: int
    writer: asyncio.StreamWriter
    client_id: int = -1


class FakeIBGateway:
    """The fake gateway; use as a context manager or call `start()` / `close()`."""

    def __init__(
        self,
        contracts: Iterable[FakeContract] = (),
        *,
        pacing: PacingRules | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        history_start: datetime = datetime(2020, 1, 1, tzinfo=UTC),
        next_valid_id: int = 1,
        bar: bars.BarMaker = bars.default_bar,
    ) -> None:
        self.contracts = list(contracts)
        self.pacing = pacing or PacingRules()
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
        self.tick_by_tick_limit: int | None = None
        """Simultaneous tick-by-tick subscriptions the account may hold (None: no limit); more get 10190."""
        self.tape = tape.Tape()
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
        self._broadcast(error(req_id, code, text))

    def push_trade(
        self,
        symbol: str,
        epoch: int,
        price: str,
        size: str,
        exchange: str = "NASDAQ",
        mask: int = 0,
        conditions: str = "",
        deliver: bool = True,
    ) -> int:
        """Put one trade on the tape and send it to every Last/AllLast subscriber of `symbol`; returns
        how many got it (none while the gateway is down, or with `deliver=False` as while the gateway
        has lost IB after a 1100: the tape still has it for historical ticks)."""
        trade = TapeTrade(epoch, price, size, mask, exchange, conditions)
        with self._cond:
            self.tape.trades[symbol].append(trade)
        subs = self._subs(symbol, TRADE_TICK_TYPES) if deliver else []
        for sub in subs:
            self._send(sub.session, tape.trade_frame(sub, trade))
        return len(subs)

    def push_bid_ask(
        self, symbol: str, epoch: int, bid: str, ask: str, bid_size: str, ask_size: str, mask: int = 0
    ) -> int:
        """Put one quote on the tape and send it to every BidAsk subscriber of `symbol`; `mask` as in the
        tickByTick message (bit 1 bidPastLow, bit 2 askPastHigh). Returns how many got it."""
        quote = TapeQuote(epoch, bid, ask, bid_size, ask_size, bool(mask & 1), bool(mask & 2))
        with self._cond:
            self.tape.quotes[symbol].append(quote)
        subs = self._subs(symbol, ("BidAsk",))
        for sub in subs:
            self._send(sub.session, tape.quote_frame(sub, quote))
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

    # ----------------------------------------------------------------- connection plumbing
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
            if not await handshake.negotiate(reader, writer):
                return
            while True:
                fields = await read_fields(reader)
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

    # ----------------------------------------------------------------- requests
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
        elif (reply := handshake.startup_reply(msg, fields, self.now)) is not None:
            out(reply)
        elif msg == 87:
            self._head_timestamp(session, fields)
        elif msg == 9:
            for frame in contract_details(self.contracts, fields):
                out(frame)
        elif msg == 20:
            self._historical(session, fields)
        elif msg == 25:
            self.historical_requests = [
                r
                for r in self.historical_requests
                if not (r.session == session.number and r.req_id == int(fields[2]))
            ]
        elif msg == 96:
            self._historical_ticks(session, fields)
        elif msg == 97:
            self._tick_by_tick(session, fields)
        elif msg == 98:
            self.subscriptions.pop((session.number, int(fields[1])), None)
        # anything else (reqMktDataType, cancelHeadTimeStamp, ...) is accepted and ignored

    def _start_api(self, session: _Session, client_id: int) -> None:
        if any(s.client_id == client_id for s in self._sessions.values() if s is not session):
            session.writer.write(handshake.client_id_in_use())
            session.writer.close()
            return
        session.client_id = client_id
        for frame in handshake.start_api_frames(self.next_valid_id):
            session.writer.write(frame)

    def _paced(self, request: HistoricalRequest, label: str = "") -> bool:
        """Record a paced request; False (after answering 162) when it broke a pacing rule."""
        problem = pacing_problem(self.pacing, self.historical_requests, request)
        self.historical_requests.append(request)
        if problem is None:
            return True
        self.violations.append(f"req {request.req_id}{label}: {problem}")
        session = self._sessions.get(request.session)
        if session is not None:
            session.writer.write(error(request.req_id, 162, PACING_TEXT))
        return False

    def _historical(self, session: _Session, fields: list[str]) -> None:
        found = lookup(self.contracts, fields[2:14])
        request = bars.parse_request(
            fields, found[0].con_id if found else 0, time.monotonic(), session.number
        )
        write = session.writer.write
        if not self._paced(request):
            return
        if self._historical_errors:
            code, text = self._historical_errors.pop(0)
            write(error(request.req_id, code, text))
            return
        if len(found) != 1:
            write(error(request.req_id, 200, NO_SECDEF_TEXT))
            return
        write(bars.answer(found[0], request, self.now(), self.history_start, self.bar))

    def _head_timestamp(self, session: _Session, fields: list[str]) -> None:
        """Answer with `history_start`; paced like a historical request when `pace_head_timestamps`."""
        req_id = int(fields[1])
        if self.pace_head_timestamps:
            found = lookup(self.contracts, fields[2:14])
            request = HistoricalRequest(
                req_id=req_id, con_id=found[0].con_id if found else 0, symbol=fields[3], exchange=fields[9],
                end="head", bar_size="", duration="", use_rth=fields[15] == "1", what_to_show=fields[16],
                format_date=int(fields[17] or 1), keep_up_to_date=False, received_at=time.monotonic(),
                session=session.number,
            )  # fmt: skip
            if not self._paced(request, " (head timestamp)"):
                return
        session.writer.write(encode(88, req_id, int(self.history_start.timestamp())))

    def _historical_ticks(self, session: _Session, fields: list[str]) -> None:
        """reqHistoricalTicks: paced like historical bars (BID_ASK counting twice), served from the tape."""
        found = lookup(self.contracts, fields[2:14])
        request = tape.parse_ticks_request(
            fields, found[0].con_id if found else 0, time.monotonic(), session.number
        )
        write = session.writer.write
        if not self._paced(request, " (historical ticks)"):
            return
        if self._historical_errors:
            code, text = self._historical_errors.pop(0)
            write(error(request.req_id, code, text))
            return
        if len(found) != 1:
            write(error(request.req_id, 200, NO_SECDEF_TEXT))
            return
        problem = tape.check_ticks_request(request)
        if problem is not None:
            self.violations.append(f"req {request.req_id} (historical ticks): {problem}")
            write(tape.refuse_ticks(request, problem))
            return
        for frame in tape.answer_ticks(self.tape, found[0].symbol, request):
            write(frame)

    def _tick_by_tick(self, session: _Session, fields: list[str]) -> None:
        req_id = int(fields[1])
        found = lookup(self.contracts, fields[2:14])
        if len(found) != 1:
            session.writer.write(error(req_id, 200, NO_SECDEF_TEXT))
            return
        if self.tick_by_tick_limit is not None and len(self.subscriptions) >= self.tick_by_tick_limit:
            session.writer.write(error(req_id, 10190, tape.TOO_MANY_TEXT))
            return
        self.subscriptions[(session.number, req_id)] = TickSubscription(
            req_id, found[0], fields[14], session.number
        )
