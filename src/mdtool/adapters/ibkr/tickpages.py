"""Historical ticks from IB, page by page and paced: the one fetch loop of the stream's gap fill and of
`mdtool backfill ibkr SYMBOL ticks`.

reqHistoricalTicks returns at most 1,000 ticks from a start second on, plus the rest of the last second
it reached, so every second comes whole in exactly one page and the next page starts one second later.
IB paces these requests like historical bars (BID_ASK counting twice), so each goes through the shared
`Pacer`, one request at a time per connection; ib_async has no timeout for them, so one is applied here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from ib_async import IB, Contract, RequestError

from mdtool.adapters.ibkr.contracts import describe
from mdtool.adapters.ibkr.pacing import Pacer
from mdtool.adapters.ibkr.ticks import ALL_LAST, BID_ASK, QuoteEvent, TickEvent, TradeEvent
from mdtool.errors import ExchangeError, UsageError

log = logging.getLogger(__name__)

TICKS_PER_REQUEST = 1000
HISTORICAL_DATA_ERROR = 162
# whatToShow of reqHistoricalTicks -> the `source` the same events have in the live stream
SOURCES = {"TRADES": ALL_LAST, "BID_ASK": BID_ASK}
# tick-by-tick type of the live stream -> whatToShow of its historical twin
LIVE_TO_HISTORICAL = {"AllLast": "TRADES", "BidAsk": "BID_ASK"}


def tick_what(what_to_show: str | None) -> str:
    """TRADES (default) or BID_ASK, the historical tick kinds that have a live twin."""
    what = (what_to_show or "TRADES").upper()
    if what not in SOURCES:
        raise UsageError(f"IB tick history is TRADES or BID_ASK, not {what_to_show!r}")
    return what


@dataclass
class TickPager:
    """Paced, retried historical-tick requests on one connection."""

    pacer: Pacer
    request_timeout: float = 60.0
    retries: int = 5
    backoff_seconds: float = 15.0
    requests: int = 0

    def __post_init__(self) -> None:
        self._one_at_a_time = asyncio.Lock()

    async def pages(
        self, ib: IB, contract: Contract, what: str, start: int
    ) -> AsyncIterator[list[TickEvent]]:
        """Pages of events from second `start` on, ascending, until IB has no more (a short page).

        A caller that has what it needs stops iterating; nothing is left in flight between pages.
        """
        cursor = start
        while True:
            events = await self.page(ib, contract, what, cursor)
            if events:
                yield events
            if len(events) < TICKS_PER_REQUEST:
                return
            cursor = events[-1].epoch + 1

    async def page(self, ib: IB, contract: Contract, what: str, start: int) -> list[TickEvent]:
        """One request for up to 1,000 ticks from second `start`; [] when IB has none there."""
        identity = ("ticks", contract.conId, start, what)
        tick_type = (contract.conId, contract.exchange, what)
        weight = 2 if what == "BID_ASK" else 1
        for attempt in range(self.retries + 1):
            async with self._one_at_a_time:
                await self.pacer.wait(identity, tick_type, weight)
                self.requests += 1
                try:
                    rows = await asyncio.wait_for(
                        ib.reqHistoricalTicksAsync(
                            contract, datetime.fromtimestamp(start, UTC), "", TICKS_PER_REQUEST, what, False
                        ),
                        self.request_timeout,
                    )
                except RequestError as error:
                    if not self._retryable(error, contract):
                        return []
                    pause = min(self.backoff_seconds * 2**attempt, self.pacer.rules.window_seconds)
                else:
                    return _events(rows, what)
                finally:
                    self.pacer.record(identity, tick_type, weight)
            log.warning("IB reported a pacing violation for historical ticks; retrying in %.1f s", pause)
            await asyncio.sleep(pause)
        raise ExchangeError(f"IB kept refusing historical ticks for {describe(contract)} (pacing violations)")

    @staticmethod
    def _retryable(error: RequestError, contract: Contract) -> bool:
        """True for a pacing violation, False for "no data"; anything else is raised."""
        text = error.message.lower()
        if error.code == HISTORICAL_DATA_ERROR and "pacing violation" in text:
            return True
        if error.code == HISTORICAL_DATA_ERROR and "returned no data" in text:
            return False
        raise ExchangeError(
            f"IB error {error.code} for historical ticks of {describe(contract)}: {error.message}"
        ) from None


def _events(rows: list[object], what: str) -> list[TickEvent]:
    """ib_async's historical tick objects as the events the live stream produces, ascending."""
    if what == "TRADES":
        events: list[TickEvent] = [TradeEvent.from_history(row) for row in rows]  # type: ignore[arg-type]
    else:
        events = [QuoteEvent.from_history(row) for row in rows]  # type: ignore[arg-type]
    return sorted(events, key=lambda e: e.epoch)
