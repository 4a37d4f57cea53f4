"""`IbkrTickStream`: tick-by-tick trades (and optionally quotes) that survive gateway restarts.

ib_async has no reconnect, forgets every subscription when the socket drops, and stamps tick-by-tick
events with the local arrival time. So this module runs its own loop: connect (retrying with backoff,
with a status line while the gateway is down), qualify, subscribe, and on a dropped socket start over;
on IB's 1101/1102 ("connectivity restored") it cancels and renews every subscription. After every
resubscription the hole is filled with historical ticks (`fill`). Ticks are taken in a `Wrapper`
subclass, which sees IB's own timestamp before ib_async replaces it with the arrival time; ib_async is
used unmodified (subclassing its public `Wrapper` and `Client`, no monkeypatching).

Many symbols: contracts are qualified before anything is subscribed, several at a time (ib_async's
client throttle keeps the messages under IB's 50/s), and any unknown symbol ends the stream with a usage
error. IB allows an account only so many simultaneous tick-by-tick subscriptions and refuses the next
with error 10190; the stream then stops with a usage error naming the limit rather than store some
symbols incompletely (reqMktData's sampled last-trade ticks are not the same data; see the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ib_async import IB, Client, Contract, TickAttribBidAsk, TickAttribLast, Wrapper

from mdtool.adapters.ibkr.connection import INFO_CODES, Endpoint, ErrorLog, connect
from mdtool.adapters.ibkr.contracts import ContractSpec, build_contract, qualify_all, storage_symbol
from mdtool.adapters.ibkr.fill import GapFiller
from mdtool.adapters.ibkr.ledger import Ledger, default_path
from mdtool.adapters.ibkr.pacing import Pacer, PacingRules
from mdtool.adapters.ibkr.tickpages import TickPager
from mdtool.adapters.ibkr.ticks import QuoteEvent, TickEvent, TickIds, TradeEvent, to_tick
from mdtool.errors import ExchangeError, MdtoolError, RecordError, UsageError
from mdtool.records import Tick
from mdtool.sources import StreamStatus, TickSink

log = logging.getLogger(__name__)

CONNECTIVITY_LOST = 1100
RESTORED_DATA_LOST = 1101
RESTORED_DATA_KEPT = 1102
TOO_MANY_TICK_BY_TICK = 10190
EventHook = Callable[[Contract, TickEvent], None]


@dataclass(frozen=True)
class StreamOptions:
    """Reconnect timing, and the pacing of gap fills; `poll_seconds` is how often the loop looks at the
    stop flag. Defaults are IB's real limits; tests scale them down."""

    connect_timeout: float = 10.0
    request_timeout: float = 30.0
    backoff_initial: float = 1.0
    backoff_max: float = 5.0
    poll_seconds: float = 0.05
    fill: bool = True
    pacing: PacingRules = field(default_factory=PacingRules)
    share_pacing: bool = True
    """Count the requests of other mdtool processes on the same gateway (see `ledger`)."""
    fill_backoff_seconds: float = 15.0
    fill_settle_seconds: float = 1.0
    """How long after a second IB's historical tape is taken to hold all of it."""
    clock: Callable[[], float] = time.time
    """Wall-clock seconds, compared with IB's tick times (tests pass the fake tape's clock)."""


class _WireTimeWrapper(Wrapper):
    """ib_async's wrapper plus a hook that receives tick-by-tick events with IB's timestamp."""

    hook: EventHook | None = None

    def tickByTickAllLast(
        self,
        reqId: int,
        tickType: int,
        time: int,
        price: float,
        size: float,
        tickAttribLast: TickAttribLast,
        exchange: str,
        specialConditions: str,
    ) -> None:
        super().tickByTickAllLast(
            reqId, tickType, time, price, size, tickAttribLast, exchange, specialConditions
        )
        event = TradeEvent(
            time,
            price,
            size,
            exchange,
            specialConditions,
            tickAttribLast.pastLimit,
            tickAttribLast.unreported,
        )
        self._emit(reqId, event)

    def tickByTickBidAsk(
        self,
        reqId: int,
        time: int,
        bidPrice: float,
        askPrice: float,
        bidSize: float,
        askSize: float,
        tickAttribBidAsk: TickAttribBidAsk,
    ) -> None:
        super().tickByTickBidAsk(reqId, time, bidPrice, askPrice, bidSize, askSize, tickAttribBidAsk)
        attrib = tickAttribBidAsk
        self._emit(
            reqId,
            QuoteEvent(time, bidPrice, askPrice, bidSize, askSize, attrib.bidPastLow, attrib.askPastHigh),
        )

    def _emit(self, req_id: int, event: TickEvent) -> None:
        ticker = self.reqId2Ticker.get(req_id)
        if ticker is not None and ticker.contract is not None and self.hook is not None:
            self.hook(ticker.contract, event)


class _WireTimeIB(IB):
    """An `IB` whose wrapper reports tick-by-tick events with their wire timestamp."""

    def __init__(self, hook: EventHook) -> None:
        super().__init__()
        self.client.apiEnd -= self.disconnectedEvent
        wrapper = _WireTimeWrapper(self)
        wrapper.hook = hook
        self.wrapper = wrapper
        self.client = Client(wrapper)  # type: ignore[no-untyped-call]
        self.client.apiEnd += self.disconnectedEvent
        self.RaiseRequestErrors = True


class IbkrTickStream:
    """`TickStream` for IB: `AllLast` trades, plus `BidAsk` quotes when `bid_ask`."""

    def __init__(
        self,
        endpoint: Endpoint,
        spec: ContractSpec,
        *,
        bid_ask: bool = False,
        options: StreamOptions | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.spec = spec
        self.tick_types = ("AllLast", "BidAsk") if bid_ask else ("AllLast",)
        self.options = options or StreamOptions()

    def run(
        self, symbols: Sequence[str], sink: TickSink, stop: threading.Event, status: StreamStatus
    ) -> None:
        """Stream on a private event loop until `stop` is set; only a usage error ends it earlier."""

        async def main() -> None:
            work = asyncio.ensure_future(_Session(self, list(symbols), sink, stop, status).main())
            # A handshake or contract lookup the gateway never answers must not delay SIGINT/SIGTERM.
            while not work.done() and not stop.is_set():
                await asyncio.wait({work}, timeout=self.options.poll_seconds)
            if not work.done():
                work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work

        asyncio.run(main())


class _Session:
    """One `run()`: the IB client, the qualified contracts and the reconnect loop."""

    def __init__(
        self,
        owner: IbkrTickStream,
        symbols: list[str],
        sink: TickSink,
        stop: threading.Event,
        status: StreamStatus,
    ) -> None:
        self.owner, self.options, self.endpoint = owner, owner.options, owner.endpoint
        self.symbols, self.sink, self.stop, self.status = symbols, sink, stop, status
        self.ids = TickIds()
        self.contracts: list[Contract] = []
        self.names: dict[int, str] = {}
        self.ib = _WireTimeIB(self._on_event)
        self.errors = ErrorLog(self.ib)
        self.ib.errorEvent += self._on_error
        self.dropped = asyncio.Event()
        self.ib.disconnectedEvent += self.dropped.set
        self.resubscribe = False
        self.fatal: MdtoolError | None = None
        self.filler = GapFiller(
            self._pager(),
            sink,
            status,
            lambda con_id: self.names[con_id],
            clock=self.options.clock,
            settle=self.options.fill_settle_seconds,
            poll_seconds=self.options.poll_seconds,
        )

    def _pager(self) -> TickPager:
        options, endpoint = self.options, self.endpoint
        ledger = Ledger(default_path(endpoint.host, endpoint.port)) if options.share_pacing else None
        pacer = Pacer(options.pacing, ledger=ledger)
        return TickPager(pacer, options.request_timeout, backoff_seconds=options.fill_backoff_seconds)

    async def main(self) -> None:
        delay = self.options.backoff_initial
        sessions = 0
        try:
            while not self.stop.is_set():
                try:
                    await connect(self.ib, self.endpoint, self.errors, self.options.connect_timeout)
                except ExchangeError as error:
                    self._set_status(False, f"{error}; retrying in {delay:.1f} s")
                    log.warning("%s; retrying in %.1f s", error, delay)
                    await self._pause(delay)
                    delay = min(delay * 2, self.options.backoff_max)
                    continue
                self.dropped.clear()
                try:
                    await self._stream(sessions)
                except (ConnectionError, ExchangeError) as error:
                    log.warning("IB Gateway/TWS failed while subscribing: %s", error)
                self.filler.connection_lost()
                self.filler.cancel()
                if self.ib.isConnected():
                    self.ib.disconnect()
                sessions += 1
                delay = self.options.backoff_initial
                if not self.stop.is_set():
                    self._set_status(
                        False, f"connection to IB Gateway/TWS at {self.endpoint} lost; reconnecting"
                    )
                    log.warning("connection to IB Gateway/TWS at %s lost; reconnecting", self.endpoint)
                    with self.status.lock:
                        self.status.reconnects += 1
                    await self._pause(delay)
        finally:
            self.filler.cancel()
            self.ib.disconnect()

    async def _stream(self, sessions: int) -> None:
        """Qualify (once), subscribe, then watch until stop or a dropped socket."""
        if not self.contracts:
            wanted = [build_contract(symbol, self.owner.spec) for symbol in self.symbols]
            self.contracts = await qualify_all(self.ib, wanted, self.options.request_timeout)
            self.names = {c.conId: storage_symbol(c) for c in self.contracts}
        self._subscribe()
        what = "resubscribed to" if sessions else "streaming"
        names = ", ".join(self.names.values())
        self._set_status(True, f"{what} {names} ({'+'.join(self.owner.tick_types)}) from {self.endpoint}")
        log.info("%s %s (%s) from %s", what, names, "+".join(self.owner.tick_types), self.endpoint)
        while not self.stop.is_set() and not self.dropped.is_set():
            if self.fatal is not None:
                raise self.fatal
            if self.resubscribe:
                self.resubscribe = False
                self.filler.connection_lost()
                self._cancel()
                self._subscribe()
            await self._pause(self.options.poll_seconds, self.dropped)

    def _subscribe(self) -> None:
        """Subscribe every series, then start the fills of the holes a reconnect left."""
        keys = []
        for contract in self.contracts:
            for tick_type in self.owner.tick_types:
                self.ib.reqTickByTickData(contract, tick_type)
                keys.append((contract.conId, tick_type))
        self.filler.subscribing(keys)
        if self.options.fill:
            self.filler.start(self.ib, {c.conId: c for c in self.contracts})

    def _cancel(self) -> None:
        for contract in self.contracts:
            for tick_type in self.owner.tick_types:
                self.ib.cancelTickByTickData(contract, tick_type)

    async def _pause(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Sleep up to `seconds`, returning early when `stop` (or `wake`) is set."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and not (wake and wake.is_set()):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, self.options.poll_seconds))

    def _on_event(self, contract: Contract, event: TickEvent) -> None:
        symbol = self.names.get(contract.conId, contract.symbol)
        try:
            tick: Tick = to_tick(symbol, event, self.ids)
        except RecordError as error:
            log.warning("skipping a malformed IB tick for %s: %s", symbol, error)
            return
        self.sink((tick,))
        tick_type = "AllLast" if isinstance(event, TradeEvent) else "BidAsk"
        self.filler.observe((contract.conId, tick_type), event.epoch, tick.trade_id)
        with self.status.lock:
            self.status.trades += 1
            self.status.last_lag_seconds = max(0.0, time.time() - event.epoch)

    def _on_error(self, req_id: int, code: int, message: str, contract: Contract | None) -> None:
        """Track IB's connectivity notices; report request errors ourselves (ib_async may be silenced)."""
        if code == TOO_MANY_TICK_BY_TICK and self.fatal is None:
            self.fatal = _too_many(self, message, contract)
        elif code == CONNECTIVITY_LOST:
            log.warning("IB Gateway lost its connection to IB (%d): %s", code, message)
            self._set_status(False, f"IB Gateway lost its connection to IB ({code}); waiting for it")
        elif code in (RESTORED_DATA_LOST, RESTORED_DATA_KEPT):
            log.warning("IB connectivity restored (%d): renewing subscriptions", code)
            self.resubscribe = True
            self._set_status(True, f"IB connectivity restored ({code}); renewing subscriptions")
        elif req_id > 0 and code not in INFO_CODES and not 2100 <= code < 2200:
            log.error("IB error %d for request %d: %s", code, req_id, message)
            self._set_status(self.status.connected, f"IB error {code} for request {req_id}: {message}")

    def _set_status(self, connected: bool, message: str) -> None:
        with self.status.lock:
            self.status.connected = connected
            self.status.message = message


def _too_many(session: _Session, message: str, contract: Contract | None) -> UsageError:
    """The one-line stop message for IB's tick-by-tick subscription limit (error 10190)."""
    wanted = len(session.contracts) * len(session.owner.tick_types)
    which = f" for {storage_symbol(contract)}" if contract is not None else ""
    return UsageError(
        f"IB refused a tick-by-tick subscription{which}: {message} (error {TOO_MANY_TICK_BY_TICK}); this "
        f"stream needs {wanted} simultaneous tick-by-tick subscriptions (one per symbol, two with "
        "--bid-ask) and the account allows fewer: stream fewer symbols per account, or raise the limit "
        "(IB ties it to the account's market-data lines)"
    )
