"""`IbkrBarSource`: the `BarSource` for IB historical bars, paced so that IB never has to say 162.

The shared backfill driver calls it synchronously; it runs ib_async on a private event loop, one request
at a time (IB answers a backfill's requests in order anyway, and pacing is about request *rate*). Every
failure ib_async would turn into an empty list is told apart from "no data": a `RequestError` (IB error
message), a timeout (measured here), or a dropped socket (reconnect and retry). A gateway that is down,
or restarting, is retried with backoff for `connect_patience` seconds before the backfill gives up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from ib_async import IB, BarData, Contract, RequestError

from mdtool.adapters.ibkr.bars import EXCHANGE, BarSize, HistoryRequest, bar_size, plan_requests, to_bars
from mdtool.adapters.ibkr.connection import Endpoint, ErrorLog, connect, new_ib
from mdtool.adapters.ibkr.contracts import ContractSpec, build_contract, describe, qualify, storage_symbol
from mdtool.adapters.ibkr.ledger import Ledger, default_path
from mdtool.adapters.ibkr.pacing import Pacer, PacingRules
from mdtool.errors import ExchangeError
from mdtool.intervals import floor_open
from mdtool.records import Bar

log = logging.getLogger(__name__)
T = TypeVar("T")
HISTORICAL_DATA_ERROR = 162
VALIDATION_ERROR = 321
# Plans with more requests than this first ask IB where the history starts, to skip empty years.
HEAD_LOOKUP_MIN_REQUESTS = 4


@dataclass(frozen=True)
class HistoryOptions:
    """Timeouts, retries and pacing; defaults are IB's real limits, tests scale them down."""

    pacing: PacingRules = field(default_factory=PacingRules)
    request_timeout: float = 60.0
    connect_timeout: float = 10.0
    connect_patience: float = 12.0
    """How long a gateway that is down or restarting is retried (backoff from 1 s) before giving up."""
    head_timeout: float = 3.0
    """The head-timestamp lookup is an optimisation only; a gateway that does not answer it is skipped."""
    retries: int = 5
    backoff_seconds: float = 15.0
    share_pacing: bool = True
    """Count the requests other mdtool processes made to the same gateway (see `ledger`)."""
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class IbkrBarSource:
    """Historical bars of the contracts `spec` describes; call `close()` when done."""

    exchange = EXCHANGE

    def __init__(self, endpoint: Endpoint, spec: ContractSpec, options: HistoryOptions | None = None) -> None:
        self.endpoint = endpoint
        self.spec = spec
        self.options = options or HistoryOptions()
        self.request_count = 0
        self._loop = asyncio.new_event_loop()
        ledger = Ledger(default_path(endpoint.host, endpoint.port)) if self.options.share_pacing else None
        self._pacer = Pacer(self.options.pacing, ledger=ledger)
        self._ib = new_ib()
        self._errors = ErrorLog(self._ib)
        self._contracts: dict[str, Contract] = {}
        # The backfill driver has no close hook: disconnect cleanly at exit too, before ib_async's
        # own __del__ would try it on a dead event loop.
        self._finalizer = weakref.finalize(self, _shutdown, self._ib, self._loop)

    # ------------------------------------------------------------------ BarSource
    def check_interval(self, interval: str) -> None:
        bar_size(interval)

    def resolve_symbol(self, symbol: str) -> str:
        return storage_symbol(self._run(self._qualified(symbol)))

    def fetch_bars(
        self, symbol: str, interval: str, start: datetime, end: datetime
    ) -> Iterator[Sequence[Bar]]:
        size = bar_size(interval)
        contract = self._run(self._qualified(symbol))
        name = storage_symbol(contract)
        plan = plan_requests(interval, start, end)
        if len(plan) > HEAD_LOOKUP_MIN_REQUESTS:
            head = self._run(self._head_timestamp(contract))
            if head is not None and head > start:
                log.info("IB has %s history for %s from %s on", interval, name, head)
                plan = plan_requests(interval, max(start, floor_open(interval, head)), end)
        for request in plan:
            if request.start >= self.options.now():
                break
            rows = self._run(self._request(contract, size, request))
            bars = to_bars(name, interval, rows, (request.start, request.end), self.options.now())
            if bars:
                yield bars

    def close(self) -> None:
        """Disconnect and release the private event loop (idempotent)."""
        self._finalizer()

    # ------------------------------------------------------------------ internals
    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return self._loop.run_until_complete(coro)
        except ConnectionError as error:  # a socket that died again right after a reconnect
            raise ExchangeError(f"connection to IB Gateway/TWS at {self.endpoint} lost: {error}") from None

    async def _connected(self) -> IB:
        """The connected client; a gateway that is down is retried with backoff, then reported."""
        delay, deadline = 1.0, time.monotonic() + self.options.connect_patience
        attempt = 1
        while not self._ib.isConnected():
            try:
                await connect(self._ib, self.endpoint, self._errors, self.options.connect_timeout)
            except ExchangeError as error:
                if time.monotonic() + delay > deadline:
                    raise ExchangeError(f"{error}; gave up after {attempt} attempts") from None
                log.warning("%s; retrying in %.0f s", error, delay)
                await asyncio.sleep(delay)
                delay, attempt = min(delay * 2, 8.0), attempt + 1
        return self._ib

    async def _qualified(self, symbol: str) -> Contract:
        key = symbol.strip().upper()
        for _attempt in range(self.options.retries + 1):
            if key in self._contracts:
                break
            ib = await self._connected()
            self.request_count += 1
            try:
                contract = await qualify(ib, build_contract(key, self.spec), self.options.request_timeout)
            except ConnectionError:
                log.warning("connection to IB Gateway/TWS lost while qualifying %s; reconnecting", key)
                continue
            self._contracts[key] = self._contracts[storage_symbol(contract).upper()] = contract
        if key not in self._contracts:
            raise ExchangeError(f"connection to IB Gateway/TWS at {self.endpoint} keeps dropping")
        return self._contracts[key]

    async def _head_timestamp(self, contract: Contract) -> datetime | None:
        """Earliest bar IB has, or None when IB will not say (the plan then stays as it is).

        Paced like a historical request, since a gateway may count it as one (same contract and data
        type); being an optimisation only, it is skipped rather than waited for.
        """
        ib = await self._connected()
        identity, tick_type = ("head", contract.conId, self.spec.bar_data), self._tick_type(contract)
        if self._pacer.delay(identity, tick_type) > 0:
            log.info("skipping IB's head timestamp for %s: pacing would delay it", describe(contract))
            return None
        self.request_count += 1
        try:
            head = await asyncio.wait_for(
                ib.reqHeadTimeStampAsync(contract, self.spec.bar_data, self.spec.use_rth, 2),
                self.options.head_timeout,
            )
        except (RequestError, TimeoutError, ConnectionError) as error:
            reason = str(error) or f"no answer within {self.options.head_timeout:g} s"
            log.info("IB gave no head timestamp for %s (%s); fetching it all", describe(contract), reason)
            return None
        finally:
            self._pacer.record(identity, tick_type)
        return head.astimezone(UTC) if isinstance(head, datetime) else None

    def _tick_type(self, contract: Contract) -> tuple[int, str, str]:
        """IB's "same contract, exchange and tick type" key of the 2-second burst rule."""
        return (contract.conId, contract.exchange, self.spec.bar_data)

    async def _request(self, contract: Contract, size: BarSize, request: HistoryRequest) -> list[BarData]:
        """One historical request, retried after pacing violations and dropped connections."""
        what = self.spec.bar_data
        end = min(request.end, self.options.now())
        identity = (contract.conId, end, size.setting, request.duration, what, self.spec.use_rth)
        tick_type = self._tick_type(contract)
        weight = 2 if what == "BID_ASK" else 1
        timeout = self.options.request_timeout
        for attempt in range(self.options.retries + 1):
            ib = await self._connected()
            await self._pacer.wait(identity, tick_type, weight)
            self.request_count += 1
            started = time.monotonic()
            try:
                bars = await _unless_rejected(
                    ib,
                    ib.reqHistoricalDataAsync(
                        contract,
                        end,
                        request.duration,
                        size.setting,
                        what,
                        self.spec.use_rth,
                        2,
                        timeout=timeout,
                    ),
                )
            except RequestError as error:
                self._pacer.record(identity, tick_type, weight)
                if error.code != HISTORICAL_DATA_ERROR:
                    raise self._failure(contract, f"IB error {error.code}: {error.message}") from None
                text = error.message.lower()
                if "returned no data" in text:
                    return []
                if "pacing violation" not in text:
                    raise self._failure(contract, f"IB error {error.code}: {error.message}") from None
                pause = min(self.options.backoff_seconds * 2**attempt, self.options.pacing.window_seconds)
                log.warning("IB reported a pacing violation; retrying in %.1f s", pause)
                await asyncio.sleep(pause)
                continue
            except ConnectionError:
                self._pacer.record(identity, tick_type, weight)
                log.warning("connection to IB Gateway/TWS lost during a request; reconnecting")
                continue
            self._pacer.record(identity, tick_type, weight)
            if not bars and time.monotonic() - started >= timeout:
                reason = f"no answer to a historical request within {timeout:g} s"
                raise self._failure(contract, reason, with_recent=True)
            return list(bars)
        raise self._failure(contract, f"still failing after {self.options.retries} retries")

    def _failure(self, contract: Contract, reason: str, with_recent: bool = False) -> ExchangeError:
        """A user-facing error; after a timeout IB's last messages often say why (e.g. error 321)."""
        recent = self._errors.since(0)[-3:] if with_recent else []
        extra = f" (last IB messages: {'; '.join(recent)})" if recent else ""
        return ExchangeError(f"historical data for {describe(contract)}: {reason}{extra}")


async def _unless_rejected(ib: IB, request: Coroutine[Any, Any, T]) -> T:
    """Await `request`, the only request in flight, but fail at once on IB's error 321.

    ib_async counts 321 ("Error validating request") among its warnings, so it would leave the request
    waiting for an answer that never comes, until the full request timeout.
    """
    loop = asyncio.get_running_loop()
    rejected: asyncio.Future[RequestError] = loop.create_future()

    def on_error(req_id: int, code: int, message: str, _contract: Contract | None) -> None:
        if code == VALIDATION_ERROR and req_id > 0 and not rejected.done():
            rejected.set_result(RequestError(req_id, code, message))

    ib.errorEvent += on_error
    task = asyncio.ensure_future(request)
    either: set[asyncio.Future[Any]] = {task, rejected}
    try:
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ib.errorEvent -= on_error
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        raise rejected.result()
    return task.result()


def _shutdown(ib: IB, loop: asyncio.AbstractEventLoop) -> None:
    if loop.is_closed():
        return
    if ib.isConnected():
        ib.disconnect()
        loop.run_until_complete(asyncio.sleep(0))
    loop.close()
