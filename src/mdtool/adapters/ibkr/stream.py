"""`IbkrTickStream`: tick-by-tick trades (and optionally quotes) that survive gateway restarts.

ib_async has no reconnect, forgets every subscription when the socket drops, and stamps tick-by-tick
events with the local arrival time. So this module runs its own loop: connect (retrying with backoff,
with a status line while the gateway is down), qualify, subscribe, and on a dropped socket start over;
on IB's 1101/1102 ("connectivity restored") it cancels and renews every subscription. Ticks are taken in
a `Wrapper` subclass, which sees IB's own timestamp before ib_async replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ib_async import IB, Client, Contract, TickAttribBidAsk, TickAttribLast, Wrapper

from mdtool.adapters.ibkr.connection import INFO_CODES, Endpoint, ErrorLog, connect
from mdtool.adapters.ibkr.contracts import ContractSpec, build_contract, qualify, storage_symbol
from mdtool.adapters.ibkr.ticks import QuoteEvent, TickIds, TradeEvent, quote_tick, trade_tick
from mdtool.errors import ExchangeError, RecordError
from mdtool.records import Tick
from mdtool.sources import StreamStatus, TickSink

log = logging.getLogger(__name__)

CONNECTIVITY_LOST = 1100
RESTORED_DATA_LOST = 1101
RESTORED_DATA_KEPT = 1102
TickEvent = TradeEvent | QuoteEvent
EventHook = Callable[[Contract, TickEvent], None]


@dataclass(frozen=True)
class StreamOptions:
    """Reconnect timing; `poll_seconds` is how often the loop looks at the stop flag."""

    connect_timeout: float = 10.0
    request_timeout: float = 30.0
    backoff_initial: float = 1.0
    backoff_max: float = 5.0
    poll_seconds: float = 0.05


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
            self.ib.disconnect()

    async def _stream(self, sessions: int) -> None:
        """Qualify (once), subscribe, then watch until stop or a dropped socket."""
        if not self.contracts:
            for symbol in self.symbols:
                contract = build_contract(symbol, self.owner.spec)
                qualified = await qualify(self.ib, contract, self.options.request_timeout)
                self.contracts.append(qualified)
                self.names[qualified.conId] = storage_symbol(qualified)
        self._subscribe()
        what = "resubscribed to" if sessions else "streaming"
        names = ", ".join(self.names.values())
        self._set_status(True, f"{what} {names} ({'+'.join(self.owner.tick_types)}) from {self.endpoint}")
        log.info("%s %s (%s) from %s", what, names, "+".join(self.owner.tick_types), self.endpoint)
        while not self.stop.is_set() and not self.dropped.is_set():
            if self.resubscribe:
                self.resubscribe = False
                self._cancel()
                self._subscribe()
            await self._pause(self.options.poll_seconds, self.dropped)

    def _subscribe(self) -> None:
        for contract in self.contracts:
            for tick_type in self.owner.tick_types:
                self.ib.reqTickByTickData(contract, tick_type)

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
            tick: Tick = (
                trade_tick(symbol, event, self.ids)
                if isinstance(event, TradeEvent)
                else quote_tick(symbol, event, self.ids)
            )
        except RecordError as error:
            log.warning("skipping a malformed IB tick for %s: %s", symbol, error)
            return
        self.sink(tick)
        with self.status.lock:
            self.status.trades += 1
            self.status.last_lag_seconds = max(0.0, time.time() - event.epoch)

    def _on_error(self, req_id: int, code: int, message: str, _contract: Contract | None) -> None:
        """Track IB's connectivity notices; report request errors ourselves (ib_async may be silenced)."""
        if code == CONNECTIVITY_LOST:
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
