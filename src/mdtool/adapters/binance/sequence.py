"""Trade-id continuity per symbol: the reason stored Binance trades have no holes and no duplicates.

Binance numbers the trades of each symbol consecutively. Whatever reaches the sink passes through here:

* a live trade at or below the newest delivered id is a duplicate (a replay after reconnecting) and is
  dropped;
* a live trade more than one above it means trades were missed: the live trade is delivered at once
  (a gap fill never holds up live trades) and the missing ids become a closed `Hole` for the gap
  filler, which delivers them over REST later through `fill`;
* after every (re)connect, `reconnected` opens a catch-up hole per symbol with a known newest id: the
  filler reads everything REST has after it, so quiet symbols are completed too. The next live trade
  closes it (whatever REST has not delivered by then becomes an ordinary closed hole).

Per symbol the state is two numbers and a timestamp, so 2,000 symbols cost little. Pure logic with one
lock: the consumer thread calls `accept_many`, the filler thread calls `fill`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mdtool.records import Tick

_ORDER = itertools.count()


@dataclass
class Hole:
    """Missing trade ids `next_id..last_id` of one symbol (`last_id` None: open catch-up, up to now)."""

    symbol: str
    next_id: int
    last_id: int | None
    before: datetime | None
    """Time of the last trade delivered before the hole (None when unknown)."""
    after: datetime | None = None
    """Time of the live trade right after the hole (None while open)."""
    first_id: int = -1
    """The hole's first id when it was found (`next_id` moves up as pages arrive)."""
    queued: float = field(default_factory=time.monotonic)
    order: int = field(default_factory=lambda: next(_ORDER))
    recorded: bool = False
    """True when the hole came from (or went to) the database, so filling it marks it filled there."""
    lagging: int = 0
    cursor_time: datetime | None = None
    """Time of the last trade a fill delivered (where the rest of the hole now starts)."""
    clean: bool = True
    """False once part of the hole turned out unfillable (it is then never marked filled as a whole)."""

    def __post_init__(self) -> None:
        if self.first_id < 0:
            self.first_id = self.next_id

    @property
    def remaining(self) -> int:
        """Ids still missing; 0 for an open hole (its size is unknown, so it is filled last)."""
        return 0 if self.last_id is None else self.last_id - self.next_id + 1


@dataclass(frozen=True)
class Missing:
    """Ids `first..last` that Binance does not serve, between trades at `before` and `after`."""

    first: int
    last: int
    before: datetime | None
    after: datetime | None


@dataclass
class FillResult:
    """What one REST page did to a hole."""

    delivered: int = 0
    done: bool = False
    missing: list[Missing] = field(default_factory=list)
    """Id ranges inside the hole that Binance no longer serves (they cannot be filled)."""


class TradeSequencer:
    """Delivers each symbol's trades exactly once; hands holes to `on_hole` (see the module docstring)."""

    def __init__(
        self,
        last_ids: Mapping[str, int | None],
        deliver: Callable[[Sequence[Tick]], None],
        on_hole: Callable[[Hole], None],
    ) -> None:
        self._last: dict[str, int | None] = dict(last_ids)
        self._last_time: dict[str, datetime] = {}
        self._open: dict[str, Hole] = {}
        self._deliver = deliver
        self._on_hole = on_hole
        self._lock = threading.Lock()
        self.duplicates = 0

    def track(self, symbol: str, last_id: int | None) -> None:
        """Start sequencing a symbol added to the selection (no-op when already tracked)."""
        with self._lock:
            self._last.setdefault(symbol, last_id)

    def forget(self, symbol: str) -> None:
        """Stop sequencing a symbol taken off the selection."""
        with self._lock:
            self._last.pop(symbol, None)
            self._last_time.pop(symbol, None)
            self._open.pop(symbol, None)

    def last_id(self, symbol: str) -> int | None:
        with self._lock:
            return self._last.get(symbol)

    def reconnected(self, symbols: Sequence[str]) -> None:
        """Open a catch-up hole for every symbol with a known newest id (after a (re)connect)."""
        opened = []
        with self._lock:
            for symbol in symbols:
                last = self._last.get(symbol)
                if last is None or symbol in self._open:
                    continue
                hole = Hole(symbol, last + 1, None, self._last_time.get(symbol))
                self._open[symbol] = hole
                opened.append(hole)
        for hole in opened:
            self._on_hole(hole)

    def accept(self, tick: Tick) -> None:
        """Deliver a live trade; a jump in ids becomes a closed hole for the filler."""
        self.accept_many([tick], [int(tick.trade_id)])

    def accept_many(self, ticks: Sequence[Tick], ids: Sequence[int]) -> int:
        """`accept` for the trades of one read, in order (`ids`: their trade ids as integers); returns
        how many were delivered. One lock and one loop per read: this runs for every trade of a market."""
        holes = []
        delivered: list[Tick] = []
        keep = delivered.append
        with self._lock:
            last_ids, last_times, opened = self._last, self._last_time, self._open
            for tick, trade_id in zip(ticks, ids, strict=True):
                symbol = tick.symbol
                last = last_ids.get(symbol)
                if last is not None and trade_id <= last:
                    self.duplicates += 1
                    continue
                catching_up = opened.pop(symbol, None) if opened else None
                if last is not None and trade_id > last + 1:
                    before = last_times.get(symbol) or (catching_up.before if catching_up else None)
                    holes.append(Hole(symbol, last + 1, trade_id - 1, before, tick.timestamp))
                keep(tick)
                last_ids[symbol] = trade_id
                last_times[symbol] = tick.timestamp
            if delivered:
                self._deliver(delivered)
        for hole in holes:
            self._on_hole(hole)
        return len(delivered)

    def is_current(self, hole: Hole) -> bool:
        """False for an open hole that a live trade closed (or a symbol no longer tracked)."""
        with self._lock:
            if hole.symbol not in self._last:
                return False
            return hole.last_id is not None or self._open.get(hole.symbol) is hole

    def fill(self, hole: Hole, page: Sequence[Tick], page_size: int) -> FillResult:
        """Deliver the trades of one REST page (ascending ids from `hole.next_id`) that the hole lacks."""
        result = FillResult()
        with self._lock:
            if hole.last_id is None:
                delivered = self._fill_open(hole, page, page_size, result)
            else:
                delivered = self._fill_closed(hole, page, result)
            if delivered:
                self._deliver(delivered)
        result.delivered = len(delivered)
        return result

    def _fill_open(self, hole: Hole, page: Sequence[Tick], page_size: int, result: FillResult) -> list[Tick]:
        delivered: list[Tick] = []
        if self._open.get(hole.symbol) is not hole:
            result.done = True  # a live trade closed it; the closed remainder is its own hole
            return delivered
        last = self._last[hole.symbol]
        assert last is not None  # open holes are only made for symbols with a known newest id
        for tick in page:
            trade_id = int(tick.trade_id)
            if trade_id <= last:
                continue
            if trade_id != last + 1:
                before = self._last_time.get(hole.symbol, hole.before)
                result.missing.append(Missing(last + 1, trade_id - 1, before, tick.timestamp))
            delivered.append(tick)
            self._last[hole.symbol] = last = trade_id
            self._last_time[hole.symbol] = tick.timestamp
        hole.next_id = last + 1
        if len(page) < page_size:
            result.done = True
            del self._open[hole.symbol]
        return delivered

    def _fill_closed(self, hole: Hole, page: Sequence[Tick], result: FillResult) -> list[Tick]:
        assert hole.last_id is not None
        delivered: list[Tick] = []
        before = hole.cursor_time or hole.before
        for tick in page:
            trade_id = int(tick.trade_id)
            if trade_id < hole.next_id:
                continue
            if trade_id > hole.last_id:
                if hole.next_id <= hole.last_id:  # Binance skipped the rest of the hole
                    result.missing.append(Missing(hole.next_id, hole.last_id, before, hole.after))
                    hole.next_id = hole.last_id + 1
                break
            if trade_id != hole.next_id:
                result.missing.append(Missing(hole.next_id, trade_id - 1, before, tick.timestamp))
            delivered.append(tick)
            hole.next_id = trade_id + 1
            before = hole.cursor_time = tick.timestamp
        if result.missing:
            hole.clean = False
        result.done = hole.next_id > hole.last_id
        return delivered
