"""A `[[backfill]]` job: `run_backfill` over each series on a jittered cadence, never overlapping itself.

One thread per job runs its series one after the other, so a cycle can never overlap the previous one;
the next cycle is due `every` (± jitter) after the last one ended. Each series takes the same per-series
lock as `mdtool backfill`, without waiting: when another process (another host with the same config)
holds it, the series is skipped this cycle, so two hosts never fetch the same bars.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Engine

from mdtool.adapters import binance, ibkr
from mdtool.backfill import BackfillRequest, run_backfill
from mdtool.config import Settings
from mdtool.errors import BusyError, DatabaseError, MdtoolError
from mdtool.records import Bar
from mdtool.service.config import BackfillJobConfig
from mdtool.service.counters import BackfillTotals
from mdtool.service.supervise import Supervised, SupervisedJob
from mdtool.sources import BarFile, BarSource

log = logging.getLogger(__name__)
_FIRST_RUN_SPREAD = 30.0


class JobStopped(MdtoolError):
    """The service is stopping: the backfill ends after storing the pages already fetched."""


class StoppableBarSource:
    """A `BarSource` that ends a fetch with `JobStopped` once `stop` is set.

    Raising (rather than ending the iteration) matters: the driver would take an early end for the
    venue having no more bars and remember the rest of the range as empty.
    """

    def __init__(self, inner: BarSource, stop: threading.Event) -> None:
        self.inner = inner
        self.exchange = inner.exchange
        self._stop = stop

    @property
    def request_count(self) -> int:
        return self.inner.request_count

    @request_count.setter
    def request_count(self, value: int) -> None:
        self.inner.request_count = value

    def resolve_symbol(self, symbol: str) -> str:
        return self.inner.resolve_symbol(symbol)

    def check_interval(self, interval: str) -> None:
        self.inner.check_interval(interval)

    def fetch_bars(
        self, symbol: str, interval: str, start: datetime, end: datetime
    ) -> Iterator[Sequence[Bar] | BarFile]:
        for page in self.inner.fetch_bars(symbol, interval, start, end):
            if self._stop.is_set():
                raise JobStopped("stopping")
            yield page

    def close(self) -> None:
        self.inner.close()


class BackfillJob(SupervisedJob):
    """Runs the series of one `[[backfill]]` section every `every` seconds until stopped."""

    def __init__(
        self, config: BackfillJobConfig, settings: Settings, engine: Engine, binance_gate: binance.RateGate
    ) -> None:
        self.config = config
        self.settings = settings
        self.engine = engine
        self.binance_gate = binance_gate
        self.totals = BackfillTotals()
        self.cycles = 0
        self._rng = random.Random()
        self._supervised = Supervised(config.name, self._loop)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def venue(self) -> str:
        return self.config.venue

    def next_delay(self, first: bool) -> float:
        """Seconds to the next cycle: a spread-out first run, then `every` ± jitter."""
        every, jitter = self.config.every, self.config.jitter
        if first:
            return self._rng.uniform(0, min(every * jitter, _FIRST_RUN_SPREAD))
        return every * (1 + self._rng.uniform(-jitter, jitter))

    def _loop(self, stop: threading.Event) -> None:
        first = self.cycles == 0
        while not stop.wait(self.next_delay(first)):
            first = False
            self.run_cycle(stop)

    def run_cycle(self, stop: threading.Event) -> None:
        """Every series once, in order; a failure of one series never stops the others."""
        source = StoppableBarSource(self._make_source(), stop)
        try:
            for symbol in self.config.symbols:
                for interval in self.config.intervals:
                    if stop.is_set():
                        return
                    self._series(source, symbol, interval)
        finally:
            self.totals.requests += source.request_count
            source.close()
            self.cycles += 1

    def _make_source(self) -> BarSource:
        if self.venue == "binance":
            return binance.make_bar_source(self.settings, binance.Via.auto, self.binance_gate)
        contract = self.config.contract
        spec = ibkr.ContractSpec(
            sec_type=contract.sec_type, exchange=contract.exchange, currency=contract.currency,
            expiry=contract.expiry, what_to_show=contract.what_to_show, use_rth=contract.use_rth,
        )  # fmt: skip
        return ibkr.make_bar_source(self.settings, spec)

    def _series(self, source: StoppableBarSource, symbol: str, interval: str) -> None:
        result = self.totals.result(symbol, interval)
        # The first successful run covers `since` (repairing gaps); later ones resume after the newest bar.
        since = None if result.last_success is not None else self.config.since
        request = BackfillRequest(symbol=symbol, interval=interval, since=since)
        try:
            summary = run_backfill(self.engine, source, request)
        except JobStopped:
            log.info("backfill %s %s %s: stopped; the next run resumes", self.venue, symbol, interval)
            return
        except BusyError:
            result.runs_busy += 1
            log.info("backfill %s %s %s: another process holds it; skipped", self.venue, symbol, interval)
            return
        except MdtoolError as error:
            if isinstance(error, DatabaseError):
                self.totals.db_failures += 1
            result.runs_failed += 1
            result.last_error = str(error)
            log.warning("backfill %s %s %s failed: %s", self.venue, symbol, interval, error)
            return
        except Exception as error:
            result.runs_failed += 1
            result.last_error = f"{type(error).__name__}: {error}"
            log.exception("backfill %s %s %s failed unexpectedly", self.venue, symbol, interval)
            return
        result.runs_ok += 1
        result.bars_stored += summary.bars_stored
        result.last_success = time.time()
        log.info("backfill: %s", summary.line())
