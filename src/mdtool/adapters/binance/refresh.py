"""Keeping a market-wide selection current as Binance lists, halts and delists symbols.

The selection (`--all`, `--quote`, patterns) is resolved again from `exchangeInfo` every
`interval` (hourly by default) and soon after a reconnect (at most once a minute, so a reconnect storm
does not become an `exchangeInfo` storm: each costs 20 weight). Symbols newly TRADING are subscribed on
connections with room; halted or delisted ones are unsubscribed. Both are logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from mdtool.adapters.binance.listing import parse_listing
from mdtool.adapters.binance.pool import ConnectionPool
from mdtool.adapters.binance.rest import BinanceRest
from mdtool.adapters.binance.sequence import TradeSequencer
from mdtool.errors import ExchangeError, MdtoolError, UsageError
from mdtool.selection import Selection

log = logging.getLogger(__name__)


class ListingRefresher:
    """Re-resolves a selection periodically and after reconnects; runs on its own thread."""

    def __init__(
        self,
        rest: BinanceRest,
        selection: Selection,
        current: list[str],
        pool: ConnectionPool,
        sequencer: TradeSequencer,
        last_trade_id: Callable[[str], int | None],
        *,
        interval: float,
        after_reconnect: float,
    ) -> None:
        self.rest = rest
        self.selection = selection
        self.current = set(current)
        self.pool = pool
        self.sequencer = sequencer
        self.last_trade_id = last_trade_id
        self.interval = interval
        self.after_reconnect = after_reconnect
        self.refreshes = 0
        self._poked = threading.Event()
        self._last = time.monotonic()

    def poke(self) -> None:
        """A connection reconnected: refresh soon (rate-limited to one per `after_reconnect` seconds)."""
        self._poked.set()

    def run(self, halt: threading.Event) -> None:
        while not halt.wait(0.25):
            since = time.monotonic() - self._last
            if since >= self.interval or (self._poked.is_set() and since >= self.after_reconnect):
                self._poked.clear()
                self._last = time.monotonic()
                try:
                    self.refresh()
                except MdtoolError as exc:  # e.g. the database, asked for a new symbol's newest trade
                    log.warning("Binance listing refresh failed (%s); trying again later", exc)

    def refresh(self) -> None:
        """One refresh: subscribe what is newly selected, unsubscribe what no longer is."""
        try:
            wanted = set(self.selection.resolve(parse_listing(self.rest.exchange_info())))
        except UsageError as exc:
            log.warning("Binance listing refresh: %s; keeping the %d current symbols", exc, len(self.current))
            return
        except ExchangeError as exc:
            log.warning("Binance listing refresh failed (%s); trying again later", exc)
            return
        self.refreshes += 1
        added = sorted(wanted - self.current)
        removed = sorted(self.current - wanted)
        if added:
            log.info("Binance listing: subscribing %d new symbols: %s", len(added), _names(added))
            for symbol in added:
                self.sequencer.track(symbol, self.last_trade_id(symbol))
            self.pool.add(added)
        if removed:
            log.info(
                "Binance listing: unsubscribing %d halted or delisted symbols: %s",
                len(removed),
                _names(removed),
            )
            self.pool.remove(removed)
            for symbol in removed:
                self.sequencer.forget(symbol)
        self.current = wanted


def _names(symbols: list[str], shown: int = 20) -> str:
    more = f" and {len(symbols) - shown} more" if len(symbols) > shown else ""
    return ", ".join(symbols[:shown]) + more
