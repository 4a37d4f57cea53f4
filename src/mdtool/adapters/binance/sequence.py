"""Trade-id continuity per symbol: the reason stored Binance trades have no holes and no duplicates.

Binance numbers the trades of each symbol consecutively. Whatever reaches the sink passes through here:
an id at or below the last delivered one is a duplicate (a replay after reconnecting) and is dropped;
an id more than one above it means trades were missed (the socket was down, or the stream started
after the newest stored trade) and the hole is filled over REST (`historicalTrades` from the missing
id) before the new trade is delivered. `catch_up` does the same proactively after every (re)connect,
so a quiet symbol is completed too, not only when its next trade arrives.

A fill stops between pages when `stop` is set; the live trade behind an unfinished fill is then not
delivered either, so the next run (which resumes from the newest stored id) finds the hole and fills it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence

from mdtool.records import Tick

log = logging.getLogger(__name__)

_REST_LAG_RETRIES = 5
_REST_LAG_PAUSE = 0.1

FetchTrades = Callable[[str, int], Sequence[Tick] | None]
"""`fetch(symbol, from_id)`: up to `page_size` trades with ids from `from_id` upward, ascending;
None when the venue will not serve old trades at all (the hole is then logged and left)."""


class TradeSequencer:
    """Delivers each symbol's trades in id order exactly once, filling holes with `fetch`."""

    def __init__(
        self,
        last_ids: Mapping[str, int | None],
        fetch: FetchTrades,
        deliver: Callable[[Tick], None],
        page_size: int,
        stop: threading.Event,
        on_filled: Callable[[int], None] = lambda count: None,
    ) -> None:
        self.last_ids: dict[str, int | None] = dict(last_ids)
        self.duplicates = 0
        self._fetch = fetch
        self._deliver = deliver
        self._page_size = page_size
        self._stop = stop
        self._on_filled = on_filled

    def accept(self, tick: Tick) -> int:
        """Deliver a live trade (after filling any hole before it); returns how many were filled."""
        trade_id = int(tick.trade_id)
        last = self.last_ids.get(tick.symbol)
        if last is not None and trade_id <= last:
            self.duplicates += 1
            return 0
        filled = 0
        if last is not None and trade_id > last + 1:
            filled = self._fill(tick.symbol, upto=trade_id - 1)
            log.info("%s: filled %d missed trades over REST before trade %d", tick.symbol, filled, trade_id)
            if self._stop.is_set() and self.last_ids[tick.symbol] != trade_id - 1:
                return filled  # interrupted: delivering this trade would leave a hole behind it
        self._deliver(tick)
        self.last_ids[tick.symbol] = trade_id
        return filled

    def catch_up(self, symbol: str) -> int:
        """Fetch everything after the last delivered trade until REST has no more; returns the count."""
        if self.last_ids.get(symbol) is None:
            return 0
        filled = self._fill(symbol, upto=None)
        log.info("%s: filled %d trades over REST after (re)connecting", symbol, filled)
        return filled

    def _fill(self, symbol: str, upto: int | None) -> int:
        filled = 0
        lagging = 0
        while not self._stop.is_set():
            last = self.last_ids[symbol]
            assert last is not None  # callers check
            if upto is not None and last >= upto:
                break
            page = self._fetch(symbol, last + 1)
            if page is None:
                if upto is not None:
                    log.warning("%s: trades %d..%d cannot be fetched; leaving a hole", symbol, last + 1, upto)
                    self.last_ids[symbol] = upto  # so the live trade behind the hole is delivered
                break
            delivered, reached = self._deliver_page(symbol, page, upto)
            filled += delivered
            self._on_filled(delivered)
            if reached:
                break
            if len(page) < self._page_size:
                if upto is None or self.last_ids[symbol] == upto or lagging >= _REST_LAG_RETRIES:
                    if upto is not None and self.last_ids[symbol] != upto:
                        log.warning("%s: REST never served trades up to %d; leaving a hole", symbol, upto)
                    break
                # historicalTrades is served from a database that can trail the live stream a little.
                lagging += 1
                self._stop.wait(_REST_LAG_PAUSE * lagging)
        return filled

    def _deliver_page(self, symbol: str, page: Sequence[Tick], upto: int | None) -> tuple[int, bool]:
        """Deliver the new trades of one REST page; (count, True when `upto` was passed)."""
        delivered = 0
        last = self.last_ids[symbol]
        assert last is not None
        for tick in page:
            trade_id = int(tick.trade_id)
            if trade_id <= last:
                continue
            if upto is not None and trade_id > upto:
                return delivered, True  # the live stream delivers the rest
            if trade_id != last + 1:
                log.warning(
                    "%s: Binance has no trades %d..%d; that hole cannot be filled",
                    symbol,
                    last + 1,
                    trade_id - 1,
                )
            self._deliver(tick)
            self.last_ids[symbol] = last = trade_id
            delivered += 1
        return delivered, False
