"""What a venue adapter must provide so that the shared backfill and stream drivers can run it.

The drivers (`mdtool.backfill`, `mdtool.stream`) own resume, gap finding, locking, batching, signals and
progress; an adapter only talks to its venue. Keeping this contract small is what lets Binance and IBKR
share one implementation of everything else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Protocol, runtime_checkable

from mdtool.records import Bar, Tick
from mdtool.selection import Selection


class BarFile(Protocol):
    """A file of bars opening in [start, end) (an archive's klines CSV) that the driver stores in bulk
    where the database can parse it itself, or as records elsewhere."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...

    def csv(self) -> AbstractContextManager[tuple[IO[bytes], bool]]:
        """The raw CSV (REST klines columns) and whether its first line is a header."""

    def bars(self) -> Iterator[Sequence[Bar]]:
        """The same bars as records, in pages."""

    def imported(self, count: int) -> None:
        """Told how many of its bars were stored (for the source's own accounting)."""


class BarSource(Protocol):
    """Historical bars of one venue."""

    exchange: str
    """Value stored in the `exchange` column (`binance`, `ibkr`)."""

    request_count: int
    """Requests made to the venue so far (reported in the summary line)."""

    def resolve_symbol(self, symbol: str) -> str:
        """Venue spelling of `symbol`; raises `UsageError` when the venue does not know it."""

    def check_interval(self, interval: str) -> None:
        """Raise `UsageError` when the venue cannot serve `interval` (already valid Binance spelling)."""

    def fetch_bars(
        self, symbol: str, interval: str, start: datetime, end: datetime
    ) -> Iterator[Sequence[Bar] | BarFile]:
        """Closed bars opening in [start, end), in ascending batches (pages of records, or whole files
        for the bulk path); ends when the venue has no more."""

    def close(self) -> None:
        """Release connections and threads (idempotent); the CLI calls it when the backfill ends."""


class TickSource(Protocol):
    """Historical ticks of one feed of a venue (`mdtool.tick_backfill`), the rows its live stream writes."""

    exchange: str
    """Value stored in the `exchange` column."""

    source: str
    """Value stored in the `source` column (the feed: `ibkr.AllLast`, `trade`, ...)."""

    request_count: int
    """Requests made to the venue so far (reported in the summary line)."""

    def resolve_symbol(self, symbol: str) -> str:
        """Stored spelling of `symbol`; raises `UsageError` when the venue does not know it."""

    def fetch_ticks(self, symbol: str, start: datetime, end: datetime) -> Iterator[Sequence[Tick]]:
        """Ticks with timestamps in [start, end), in ascending batches, each second (or other unit the
        venue stamps with) complete; ends when the venue has no more."""

    def close(self) -> None:
        """Release connections and threads (idempotent)."""


TickSink = Callable[[Sequence[Tick]], None]
"""Where a stream delivers ticks: in order, as many per call as one read (or one fill page) gave."""


@dataclass
class StreamStatus:
    """Counters a stream adapter updates and the CLI shows (status line, final log line)."""

    trades: int = 0
    reconnects: int = 0
    gaps_filled: int = 0
    last_lag_seconds: float = 0.0
    connected: bool = False
    message: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    symbols: int = 0
    """Symbols currently subscribed (changes as listings change)."""
    connections_up: int = 0
    connections_total: int = 0
    holes_pending: int = 0
    """Holes queued for a REST fill right now."""
    holes_recorded: int = 0
    """Holes that could not be filled and were recorded for a later retry."""
    weight_used: int = 0
    """REST request weight used in the venue's current window (the whole process shares one budget)."""


@dataclass(frozen=True)
class StreamHole:
    """Trades a stream missed and could not (yet) fill: what `market_data_stream_holes` stores.

    `start_time` is the time of the last trade delivered before the hole (or of the first after it when
    nothing before is known) and identifies the hole; ids are the venue's trade ids where it has them.
    """

    exchange: str
    symbol: str
    source: str
    start_time: datetime
    end_time: datetime
    first_trade_id: int | None
    last_trade_id: int | None
    reason: str


class TickStream(Protocol):
    """Live ticks of one venue; `run` blocks until `stop` is set, reconnecting by itself."""

    def run(
        self, symbols: Sequence[str], sink: TickSink, stop: threading.Event, status: StreamStatus
    ) -> None:
        """Deliver every tick to `sink` (which never blocks on the database) until `stop` is set."""


@runtime_checkable
class SelectionStream(Protocol):
    """A `TickStream` that also takes a `Selection` (`--all`, `--quote`, patterns, `--shard`) and resolves
    it against the venue's listing itself, keeping it current as the listing changes."""

    accepts_selection: bool

    def run(
        self, symbols: Sequence[str] | Selection, sink: TickSink, stop: threading.Event, status: StreamStatus
    ) -> None:
        """As `TickStream.run`."""


class HoleLedger(Protocol):
    """Where a stream records holes it could not fill, and finds recorded ones to retry."""

    def record(self, hole: StreamHole) -> None:
        """Record (or update) an unfilled hole."""

    def filled(self, hole: StreamHole) -> None:
        """A recorded hole has now been filled."""

    def unfilled(self, exchange: str, source: str, symbols: Sequence[str]) -> list[StreamHole]:
        """Recorded holes of `symbols` not yet filled."""
