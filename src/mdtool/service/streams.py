"""A `[[stream]]` job: the stream driver of `mdtool stream`, run over a symbol set that can change.

The job's symbols are split into units, each one `run_stream` call over a fixed set (one call is what
`mdtool stream` makes). When a reload or a listing refresh changes the set, only the difference is
applied: added symbols start as a new unit, units that lost symbols restart with the rest, and units
untouched by the change keep streaming. A restarted Binance unit fills what it missed from the newest
stored trade id, so nothing is lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from mdtool.adapters import binance, ibkr
from mdtool.config import Settings
from mdtool.service.config import StreamJobConfig
from mdtool.service.counters import LagHistogram, StreamTotals
from mdtool.service.supervise import Supervised
from mdtool.sources import StreamStatus, TickSink, TickStream
from mdtool.storage.batching import BatchingWriter
from mdtool.stream import run_stream
from mdtool.stream_sources import binance_tick_stream

log = logging.getLogger(__name__)

Resolver = Callable[[StreamJobConfig], list[str]]
LISTING_REFRESH = 600.0


class _Unit:
    """One `run_stream` over a fixed symbol set, supervised; remembers the live status and writer."""

    def __init__(self, job: StreamJob, symbols: frozenset[str]) -> None:
        self.symbols = symbols
        self.live: tuple[StreamStatus, BatchingWriter] | None = None
        self.job_lag = job.lag
        self._job = job
        self.supervised = Supervised(f"{job.name}[{len(symbols)}]", self._run)

    def _run(self, stop: threading.Event) -> None:
        stream = _Observed(self._job.make_stream(), self)
        try:
            summary = run_stream(self._job.engine, stream, sorted(self.symbols), stop=stop)
        finally:
            self._job.fold(self.live)
            self.live = None
        log.info("stream %s (%d symbols): %s", self._job.name, len(self.symbols), summary.line())


class _Observed:
    """The venue's `TickStream`, seen by its unit: before the first tick it learns the run's status and
    writer (for the metrics) and hooks the writer's commit callback (for the lag histogram).

    `run_stream` makes both and hands the sink over as the writer's bound `put`, so nothing of the
    driver is copied or changed to observe it.
    """

    def __init__(self, inner: TickStream, unit: _Unit) -> None:
        self._inner = inner
        self._unit = unit

    def run(
        self, symbols: Sequence[str], sink: TickSink, stop: threading.Event, status: StreamStatus
    ) -> None:
        writer = getattr(sink, "__self__", None)
        if isinstance(writer, BatchingWriter):
            writer.on_commit = self._unit.job_lag.observe_batch
            self._unit.live = (status, writer)
        self._inner.run(symbols, sink, stop, status)


class StreamJob:
    """Streams a job's symbols in units; `reconfigure` and listing refreshes apply only differences."""

    def __init__(
        self,
        config: StreamJobConfig,
        settings: Settings,
        engine: Engine,
        resolver: Resolver,
        binance_gate: binance.RateGate,
    ) -> None:
        self.config = config
        self.settings = settings
        self.engine = engine
        self.binance_gate = binance_gate
        self.lag = LagHistogram()
        self.totals = StreamTotals()
        self._resolver = resolver
        self._units: list[_Unit] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._manager = Supervised(f"{config.name}/symbols", self._manage)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def venue(self) -> str:
        return self.config.venue

    @property
    def symbols(self) -> frozenset[str]:
        with self._lock:
            return frozenset().union(*(unit.symbols for unit in self._units))

    def units(self) -> list[_Unit]:
        with self._lock:
            return list(self._units)

    def start(self) -> StreamJob:
        self._manager.start()
        return self

    def reconfigure(self, config: StreamJobConfig) -> None:
        """Adopt a new selection of the same job; the manager applies the difference at once."""
        self.config = config
        self._wake.set()

    def stop(self) -> None:
        self._manager.stop()
        self._wake.set()
        for unit in self.units():
            unit.supervised.stop()

    def join(self, timeout: float) -> bool:
        done = self._manager.join(timeout)
        joined = [unit.supervised.join(timeout) for unit in self.units()]
        return all(joined) and done

    @property
    def restarts(self) -> int:
        return self._manager.restarts + sum(unit.supervised.restarts for unit in self.units())

    def make_stream(self) -> TickStream:
        """The venue's `TickStream`, built as `mdtool stream` builds it: Binance holes that cannot be
        filled are recorded in the database, and REST weight comes out of the process's one budget."""
        if self.venue == "binance":
            rest = binance.make_rest(self.settings, self.binance_gate)
            return binance_tick_stream(self.engine, self.settings, rest=rest)
        contract = self.config.contract
        spec = ibkr.ContractSpec(
            sec_type=contract.sec_type, exchange=contract.exchange, currency=contract.currency,
            expiry=contract.expiry,
        )  # fmt: skip
        return ibkr.make_tick_stream(self.settings, spec, self.config.bid_ask)

    def fold(self, live: tuple[StreamStatus, BatchingWriter] | None) -> None:
        """Add a finished attempt's final counts to the totals (counters never go backwards)."""
        if live is None:
            return
        status, writer = live
        with self._lock:
            totals = self.totals
            totals.trades += status.trades
            totals.reconnects += status.reconnects
            totals.gaps_filled += status.gaps_filled
            totals.stored += writer.stats.stored
            totals.db_failures += writer.stats.failures
            totals.spooled += writer.stats.spooled
            totals.rejected += writer.stats.rejected

    def _manage(self, stop: threading.Event) -> None:
        """Resolve the selection, apply the difference, then wait for a reload or a listing refresh."""
        while not stop.is_set():
            self._wake.clear()
            self._apply(frozenset(self._resolver(self.config)))
            refresh = LISTING_REFRESH if self.config.selection.selects_from_listing else None
            self._wake.wait(refresh)

    def _apply(self, wanted: frozenset[str]) -> None:
        with self._lock:
            current = frozenset().union(*(unit.symbols for unit in self._units))
            added, removed = wanted - current, current - wanted
            if not added and not removed:
                return
            touched = [unit for unit in self._units if unit.symbols & removed]
            kept = [unit for unit in self._units if not unit.symbols & removed]
            fresh = [_Unit(self, unit.symbols - removed) for unit in touched if unit.symbols - removed]
            if added:
                fresh.append(_Unit(self, frozenset(added)))
            self._units = kept + fresh
        log.info(
            "stream %s: %d symbols (+%d, -%d); %d unit(s) unchanged",
            self.name, len(wanted), len(added), len(removed), len(kept),
        )  # fmt: skip
        for unit in touched:
            unit.supervised.stop()
        for unit in touched:
            unit.supervised.join(30)
        for unit in fresh:
            unit.supervised.start()
