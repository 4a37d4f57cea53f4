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
from typing import IO, Protocol

from mdtool.records import Bar, Tick


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


TickSink = Callable[[Tick], None]


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


class TickStream(Protocol):
    """Live ticks of one venue; `run` blocks until `stop` is set, reconnecting by itself."""

    def run(
        self, symbols: Sequence[str], sink: TickSink, stop: threading.Event, status: StreamStatus
    ) -> None:
        """Deliver every tick to `sink` (which never blocks on the database) until `stop` is set."""
