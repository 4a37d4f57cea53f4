"""`IbkrTickSource`: IB's historical ticks as the `TickSource` of `mdtool backfill ibkr SYMBOL ticks`.

It is an `IbkrBarSource` (same connection, contract cache, retries and pacer, so bars and ticks fetched
by one process are paced together and with other processes through the ledger) that also pages
historical ticks with the `TickPager` the stream's gap fill uses, and turns them into exactly the rows
the live stream writes: same `source`, timestamp and `trade_id` (see `ticks`). Ticks are fetched for all
hours, like the stream, whatever `--rth` says. Only seconds that ended `settle` seconds ago are kept, so
that no second is stored in part.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from datetime import datetime

from ib_async import Contract

from mdtool.adapters.ibkr.connection import Endpoint
from mdtool.adapters.ibkr.contracts import ContractSpec, storage_symbol
from mdtool.adapters.ibkr.history import HistoryOptions, IbkrBarSource
from mdtool.adapters.ibkr.tickpages import SOURCES, TICKS_PER_REQUEST, TickPager, tick_what
from mdtool.adapters.ibkr.ticks import TickEvent, TickIds, to_tick
from mdtool.errors import ExchangeError, RecordError
from mdtool.records import Tick

log = logging.getLogger(__name__)
SETTLE_SECONDS = 2.0


class IbkrTickSource(IbkrBarSource):
    """Historical TRADES (`ibkr.AllLast`) or BID_ASK (`ibkr.BidAsk`) ticks of one contract kind."""

    def __init__(self, endpoint: Endpoint, spec: ContractSpec, options: HistoryOptions | None = None) -> None:
        self.what = tick_what(spec.what_to_show)  # a usage error before any connection is made
        self.source = SOURCES[self.what]
        super().__init__(endpoint, spec, options)
        self._pager = TickPager(
            self._pacer, self.options.request_timeout, self.options.retries, self.options.backoff_seconds
        )

    def fetch_ticks(self, symbol: str, start: datetime, end: datetime) -> Iterator[Sequence[Tick]]:
        contract = self._run(self._qualified(symbol))
        name = storage_symbol(contract)
        cursor = int(start.timestamp())
        stop = min(math.ceil(end.timestamp()), math.floor(self.options.now().timestamp() - SETTLE_SECONDS))
        while cursor < stop:
            page = self._page(contract, cursor)
            kept = _records(name, [event for event in page if event.epoch < stop])
            if kept:
                yield kept
            if len(page) < TICKS_PER_REQUEST:
                return
            cursor = page[-1].epoch + 1

    def _page(self, contract: Contract, cursor: int) -> list[TickEvent]:
        """One page, reconnecting when the gateway drops the socket meanwhile."""
        for _attempt in range(self.options.retries + 1):
            ib = self._run(self._connected())
            before = self._pager.requests
            try:
                return self._loop.run_until_complete(self._pager.page(ib, contract, self.what, cursor))
            except ConnectionError:
                continue
            finally:
                self.request_count += self._pager.requests - before
        raise ExchangeError(f"connection to IB Gateway/TWS at {self.endpoint} keeps dropping")


def _records(name: str, page: list[TickEvent]) -> list[Tick]:
    ids = TickIds()  # per page: each page holds whole seconds
    ticks = []
    for event in page:
        try:
            ticks.append(to_tick(name, event, ids))
        except RecordError as error:
            log.warning("skipping a malformed historical IB tick for %s: %s", name, error)
    return ticks
