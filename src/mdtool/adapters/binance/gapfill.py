"""Filling stream holes over REST at market scale: one thread, one weight budget, biggest holes first.

After a reconnect every symbol on the connection may have a hole, and `historicalTrades` costs 25
weight per 1,000 trades against a budget of 6,000 per minute that the whole process shares. So holes
are queued here rather than filled where they are found, and one thread works through them a page at a
time, always taking the hole with the most trades missing (the most recent first among equals; open
catch-up holes, whose size is unknown, last). Every request goes through the process-wide `RateGate`,
so the filler waits for budget and the live trades, read on other threads, never wait for it.

A hole is given up and recorded (so `mdtool` can list it and a later run retries it), never silently
dropped, when Binance refuses `historicalTrades` for good, no longer serves some ids, never serves ids
the live stream already passed, or when the hole has waited longer than `patience` (the budget stayed
exhausted). An open catch-up hole is simply dropped then: nothing after it was delivered, so the next
live trade or the next run finds the same trades missing.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from mdtool.adapters.binance.rest import BinanceBanned, BinanceRefused
from mdtool.adapters.binance.sequence import Hole, Missing, TradeSequencer
from mdtool.errors import ExchangeError, MdtoolError
from mdtool.records import Tick

log = logging.getLogger(__name__)

FetchPage = Callable[[str, int, int], Sequence[Tick]]
"""`fetch(symbol, from_id, limit)`: trades with ids from `from_id` upward, ascending."""
Unfillable = Callable[[str, int | None, int | None, datetime | None, datetime | None, str], None]
"""`record(symbol, first_id, last_id, before, after, reason)` for trades that will not be filled here."""

_LAG_RETRIES = 5
_LAG_PAUSE = 0.1
_FAILURE_PAUSE = 5.0
_BAN_PAUSE = 60.0


class GapFiller:
    """A priority queue of holes and the thread that fills them (see the module docstring)."""

    def __init__(
        self,
        sequencer: TradeSequencer,
        fetch: FetchPage,
        stop: threading.Event,
        *,
        record: Unfillable,
        on_filled: Callable[[int], None],
        on_recorded_hole_filled: Callable[[Hole], None],
        page_size: int = 1000,
        patience: float = 900.0,
    ) -> None:
        self._sequencer = sequencer
        self._fetch = fetch
        self._stop = stop
        self._record = record
        self._on_filled = on_filled
        self._on_recorded_hole_filled = on_recorded_hole_filled
        self._page_size = page_size
        self._patience = patience
        self._heap: list[tuple[int, int, Hole]] = []
        self._cond = threading.Condition()
        self._refused: str | None = None
        self._busy: Hole | None = None

    @property
    def pending(self) -> int:
        """Holes queued or being filled."""
        with self._cond:
            return len(self._heap) + (self._busy is not None)

    def add(self, hole: Hole) -> None:
        """Queue a hole (thread-safe, never blocks on the network)."""
        with self._cond:
            if self._refused is not None and hole.last_id is not None:
                refused = self._refused
            else:
                heapq.heappush(self._heap, (-hole.remaining, -hole.order, hole))
                self._cond.notify()
                return
        self._give_up(hole, refused)

    def run(self) -> None:
        """Fill holes until `stop` is set; then record every closed hole still unfilled."""
        try:
            while not self._stop.is_set():
                if not self.step():
                    with self._cond:
                        if not self._heap:
                            self._cond.wait(0.2)
        finally:
            self.record_unfinished()

    def step(self) -> bool:
        """One page for the most urgent hole; False when no hole is queued."""
        with self._cond:
            if not self._heap:
                return False
            hole = self._busy = heapq.heappop(self._heap)[2]
        self._work(hole)
        return True

    def _requeue(self, hole: Hole) -> None:
        with self._cond:
            self._busy = None
            heapq.heappush(self._heap, (-hole.remaining, -hole.order, hole))

    def _finish(self) -> None:
        with self._cond:
            self._busy = None

    def _work(self, hole: Hole) -> None:
        """One page for `hole`, then back in the queue unless it is done or given up."""
        if not self._sequencer.is_current(hole):
            self._finish()
            return
        if self._overdue(hole):
            self._finish()
            return
        try:
            page = self._fetch(hole.symbol, hole.next_id, self._page_size)
        except BinanceRefused as exc:
            self._refuse(hole, str(exc))
            return
        except BinanceBanned as exc:
            log.warning("gap fill paused for %.0f s: %s", _BAN_PAUSE, exc)
            self._requeue(hole)
            self._stop.wait(_BAN_PAUSE)
            return
        except ExchangeError as exc:
            log.warning("gap fill of %s failed (%s); retrying in %.0f s", hole.symbol, exc, _FAILURE_PAUSE)
            self._requeue(hole)
            self._stop.wait(_FAILURE_PAUSE)
            return
        except (MdtoolError, KeyError, TypeError, ValueError) as exc:
            # The symbol is gone (delisted mid-fill) or Binance sent rows we cannot read: retrying the
            # same request cannot help, so the hole is recorded for a later run.
            self._finish()
            self._give_up(hole, f"{type(exc).__name__}: {exc}")
            return
        self._apply(hole, page)

    def _apply(self, hole: Hole, page: Sequence[Tick]) -> None:
        result = self._sequencer.fill(hole, page, self._page_size)
        if result.delivered:
            self._on_filled(result.delivered)
        for piece in result.missing:
            self._give_up_piece(hole.symbol, piece, "Binance no longer serves these trades")
        if result.done:
            self._finish()
            self._done(hole)
            return
        if hole.last_id is not None and len(page) < self._page_size:
            # historicalTrades is served from a database that can trail the live stream a little.
            hole.lagging += 1
            if hole.lagging > _LAG_RETRIES:
                self._finish()
                self._give_up(hole, "Binance never served trades the live stream had passed")
                return
            self._stop.wait(_LAG_PAUSE * hole.lagging)
        self._requeue(hole)

    def _done(self, hole: Hole) -> None:
        if hole.last_id is not None:
            log.info("%s: filled trades %d..%d over REST", hole.symbol, hole.first_id, hole.last_id)
        if hole.recorded and hole.clean:
            self._on_recorded_hole_filled(hole)

    def _overdue(self, hole: Hole) -> bool:
        waited = time.monotonic() - hole.queued
        if waited <= self._patience:
            return False
        self._give_up(hole, f"request-weight budget exhausted: waited {waited:.0f} s for a fill")
        return True

    def _refuse(self, hole: Hole, reason: str) -> None:
        """Binance will not serve old trades: record this hole and every queued one, now and later."""
        log.warning("Binance refuses historicalTrades, so missed trades cannot be filled: %s", reason)
        with self._cond:
            self._refused = reason
            queued = [entry[2] for entry in self._heap]
            self._heap.clear()
            self._busy = None
        for each in [hole, *queued]:
            self._give_up(each, reason)

    def _give_up(self, hole: Hole, reason: str) -> None:
        if hole.last_id is None:
            log.debug("%s: catch-up after %d dropped (%s)", hole.symbol, hole.next_id - 1, reason)
            return
        if hole.next_id > hole.last_id:
            return
        # Recorded under where the hole started, so a hole recorded again updates its row.
        self._record(hole.symbol, hole.next_id, hole.last_id, hole.before, hole.after, reason)

    def _give_up_piece(self, symbol: str, piece: Missing, reason: str) -> None:
        self._record(symbol, piece.first, piece.last, piece.before, piece.after, reason)

    def record_unfinished(self) -> None:
        """At stop: closed holes not yet filled are recorded (the next run resumes after them)."""
        with self._cond:
            left = [entry[2] for entry in self._heap]
            if self._busy is not None:
                left.append(self._busy)
            self._heap.clear()
            self._busy = None
        for hole in left:
            self._give_up(hole, "the stream stopped before the hole was filled")
