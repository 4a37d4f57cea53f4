"""Filling the hole a reconnect leaves in a tick-by-tick stream with IB's historical ticks.

Tick-by-tick data has no replay: what IB sent while the gateway was down, restarting or cut off from IB
(1100 ... 1101/1102) never arrives live. For every (contract, tick type) the stream remembers the second
of its newest live tick; when the connection drops, that second becomes the start of a hole. After
resubscribing, a fill task pages historical ticks (TRADES for AllLast, BID_ASK for BidAsk) forward from
that second, inclusive, until the pages reach the second of the first live tick after resubscribing, or
IB has no more. Live ticks keep flowing meanwhile: the task runs beside the stream on the same event loop
and only waits on IB and the pacing ledger.

Both feeds give an event the same timestamp and `trade_id` (see `ticks`), and historical pages hold whole
seconds, so the overlap at both ends collides on the primary key: no duplicate, no hole. An overlap that
does not match (a live tick with no historical twin in a second both feeds cover, as when IB's two tapes
disagree on a size) cannot be resolved from here: both rows are kept, nothing is deleted, and a warning
names the count and the span. A fill that fails for good (an IB error other than pacing) is logged with
the span and the `mdtool backfill ibkr SYMBOL ticks --since ...` command that repairs it later; a fill cut
short by another disconnect is simply restarted, from the same second, after the next reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ib_async import IB, Contract

from mdtool.adapters.ibkr.tickpages import LIVE_TO_HISTORICAL, TICKS_PER_REQUEST, TickPager
from mdtool.adapters.ibkr.ticks import TickEvent, TickIds, to_tick
from mdtool.errors import ExchangeError, RecordError
from mdtool.sources import StreamStatus, TickSink

log = logging.getLogger(__name__)

Key = tuple[int, str]  # (conId, live tick type)
LIVE_MEMORY = 500_000  # live ids kept per pending fill, for the overlap check


@dataclass
class _Track:
    """What the stream knows about one (contract, tick type)."""

    last_second: int | None = None
    last_ids: set[str] = field(default_factory=set)
    hole_from: int | None = None
    hole_ids: set[str] = field(default_factory=set)
    first_live: int | None = None
    live_since: list[tuple[int, str]] = field(default_factory=list)


class GapFiller:
    """Owns the per-series fill state and the fill tasks of one stream session."""

    def __init__(
        self,
        pager: TickPager,
        sink: TickSink,
        status: StreamStatus,
        names: Callable[[int], str],
        *,
        clock: Callable[[], float] = time.time,
        settle: float = 1.0,
        poll_seconds: float = 0.05,
    ) -> None:
        self.pager = pager
        self.clock = clock
        self.settle = settle
        self.poll_seconds = poll_seconds
        self.sink = sink
        self.status = status
        self.names = names
        self.tracks: dict[Key, _Track] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def observe(self, key: Key, epoch: int, trade_id: str) -> None:
        """Every live tick passes here (after it went to the sink)."""
        track = self.tracks.setdefault(key, _Track())
        if track.last_second != epoch:
            track.last_second = epoch
            track.last_ids = set()
        track.last_ids.add(trade_id)
        if track.hole_from is not None:
            if track.first_live is None:
                track.first_live = epoch
            if len(track.live_since) < LIVE_MEMORY:
                track.live_since.append((epoch, trade_id))

    def subscribing(self, keys: list[Key]) -> None:
        """Called when the stream (re)subscribes; every series starts being tracked from now on."""
        for key in keys:
            self.tracks.setdefault(key, _Track())

    def connection_lost(self, now: int | None = None) -> None:
        """The live feed stopped: each series' hole starts at its newest live second (or now, for a
        series that has had no tick yet this session). An unfinished hole keeps its older start."""
        now = int(self.clock()) if now is None else now
        for track in self.tracks.values():
            if track.hole_from is None:
                track.hole_from = track.last_second if track.last_second is not None else now
                track.hole_ids = set(track.last_ids) if track.last_second is not None else set()
            track.first_live = None
            track.live_since = []

    def start(self, ib: IB, contracts: dict[int, Contract]) -> None:
        """After resubscribing: one fill task per series with a hole (cancels leftovers first)."""
        self.cancel()
        for key, track in self.tracks.items():
            contract = contracts.get(key[0])
            if track.hole_from is not None and contract is not None:
                task = asyncio.ensure_future(self._fill(ib, contract, key, track))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        self.tasks.clear()

    async def _fill(self, ib: IB, contract: Contract, key: Key, track: _Track) -> None:
        start = track.hole_from
        assert start is not None
        name, tick_type = self.names(contract.conId), key[1]
        seen: set[str] = set()
        requests, began = self.pager.requests, time.monotonic()
        try:
            reach = await self._pages(ib, contract, LIVE_TO_HISTORICAL[tick_type], name, track, seen)
        except ConnectionError:
            log.warning("fill of %s %s from %s cut short by a disconnect; resumes after the reconnect",
                        name, tick_type, _at(start))  # fmt: skip
            return
        except ExchangeError as error:
            since, until = _at(start), _at(60 * math.ceil((self.clock() + 1) / 60))
            log.error(
                "cannot fill the %s %s hole from %s: %s; repair it with `mdtool backfill ibkr %s ticks "
                "--since %s --until %s --refetch`", name, tick_type, since, error, name, since, until
            )  # fmt: skip
            track.hole_from = None
            return
        self._finish(name, tick_type, track, start, reach, seen, (self.pager.requests - requests, began))

    async def _pages(
        self, ib: IB, contract: Contract, what: str, name: str, track: _Track, seen: set[str]
    ) -> int:
        """Page forward until every second through the first live one is complete; the newest second
        stored. `track.hole_from` advances as pages land, so a fill cut short resumes where it was.

        A second is complete in a page when IB's tape had finished it at request time: an earlier second
        of the page, or its last one if that ended `settle` before the request (IB adds the rest of the
        last second, but only what exists by then). Live ticks complete every second after the first live
        one, so the fill ends once that one is complete; until a live tick comes, it waits.
        """
        settle, cursor, reach = self.settle, track.hole_from or 0, track.hole_from or 0
        while track.first_live is None or cursor <= track.first_live:
            asked_at = self.clock()
            page = await self.pager.page(ib, contract, what, cursor)
            self._store(name, page, seen)
            if page:
                reach = max(reach, page[-1].epoch)
            if len(page) >= TICKS_PER_REQUEST:
                last = page[-1].epoch
                cursor = last + 1 if last + 1 + settle <= asked_at else last
            else:
                cursor = max(cursor, math.floor(asked_at - settle))
                await self._until(
                    lambda: track.first_live is not None and self.clock() >= track.first_live + 1 + settle
                )
            track.hole_from = cursor
        return reach

    def _store(self, name: str, page: list[TickEvent], seen: set[str]) -> None:
        ids = TickIds()  # per page: a second re-asked in a later page is numbered from 0 again
        ticks = []
        for event in page:
            try:
                tick = to_tick(name, event, ids)
            except RecordError as error:
                log.warning("skipping a malformed historical IB tick for %s: %s", name, error)
                continue
            ticks.append(tick)
            seen.add(tick.trade_id)
        self.sink(ticks)

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            await asyncio.sleep(self.poll_seconds)

    def _finish(
        self,
        name: str,
        tick_type: str,
        track: _Track,
        start: int,
        reach: int,
        seen: set[str],
        cost: tuple[int, float],
    ) -> None:
        live = set(track.hole_ids)
        live.update(trade_id for epoch, trade_id in track.live_since if start <= epoch <= reach)
        unmatched = live - seen
        new = len(seen - live)
        track.hole_from, track.first_live, track.live_since = None, None, []
        with self.status.lock:
            self.status.gaps_filled += 1
        requests, began = cost
        log.info(
            "filled %s %s from %s to %s: %d historical ticks, %d not seen live (%d requests, %.1f s)",
            name, tick_type, _at(start), _at(reach), len(seen), new, requests, time.monotonic() - began,
        )  # fmt: skip
        if unmatched:
            log.warning(
                "%d live %s %s ticks between %s and %s have no historical twin (IB's live and historical "
                "tapes differ there); both kept", len(unmatched), name, tick_type, _at(start), _at(reach),
            )  # fmt: skip


def _at(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
