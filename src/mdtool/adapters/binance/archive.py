"""Binance klines from the public data archive, stitched to REST: a `BarSource` choosing per span.

The backfill driver (`mdtool.backfill`) still decides what is missing, locks the series, writes and
reports; this source only answers `fetch_bars(start, end)` for each missing range, from the cheapest
place that has it: whole months from monthly zips, other days from daily zips, and from REST what the
archive does not have yet (today) or lacks (a 404 on a day; a 404 on a month falls back to its days
first). Spans never overlap - each bar open time belongs to exactly one planned file or to the REST tail
- so nothing is fetched twice and nothing is skipped. `via` narrows the choice: `rest` is the plain
REST source, `archive` never asks REST for bars (the not-yet-archived tail is left for a later run).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from mdtool.adapters.binance.archive_csv import open_csv, read_klines
from mdtool.adapters.binance.archive_fetch import ArchiveClient
from mdtool.adapters.binance.archive_layout import MONTHLY, ArchiveFile, days_of, plan
from mdtool.adapters.binance.history import PAGE_SIZE, BinanceBarSource
from mdtool.adapters.binance.parse import EXCHANGE, from_ms, kline_open_ms, to_ms
from mdtool.adapters.choices import Via as Via  # defined there so that `--help` stays light
from mdtool.intervals import ceil_open, count_bars, floor_open
from mdtool.records import Bar
from mdtool.sources import BarFile

log = logging.getLogger(__name__)


class ArchiveBarSource:
    """`BarSource` over the archive with REST for the rest; counts what came from where."""

    exchange = EXCHANGE

    def __init__(self, rest: BinanceBarSource, archive: ArchiveClient, via: Via = Via.auto) -> None:
        self.rest = rest
        self.archive = archive
        self.via = via
        self.archive_bars = 0
        self.rest_bars = 0
        self.missing_files: list[str] = []

    @property
    def request_count(self) -> int:
        """REST requests plus archive files downloaded."""
        return self.rest.request_count + self.archive.downloads

    @request_count.setter  # `BarSource` declares a plain (settable) attribute
    def request_count(self, value: int) -> None:
        self.rest.request_count = value

    def resolve_symbol(self, symbol: str) -> str:
        return self.rest.resolve_symbol(symbol)

    def check_interval(self, interval: str) -> None:
        self.rest.check_interval(interval)

    def close(self) -> None:
        """Close REST sessions and delete any temporary archive file (idempotent)."""
        self.archive.close()
        self.rest.close()

    def origins(self) -> str:
        """For the summary line: how much came from the archive and how much from REST."""
        return (
            f"archive: {self.archive_bars} bars from {self.archive.downloads} files "
            f"({self.archive.bytes / 1e6:.1f} MB), REST: {self.rest_bars} bars"
        )

    def fetch_bars(
        self, symbol: str, interval: str, start: datetime, end: datetime
    ) -> Iterator[Sequence[Bar] | BarFile]:
        """Closed bars opening in [start, end): archive files first, then REST for the tail."""
        if self.via is Via.rest:
            yield from self._from_rest(symbol, interval, start, end)
            return
        start = ceil_open(interval, start)
        now = self.rest.rest.server_now()
        end = min(end, floor_open(interval, now))
        if self.via is Via.auto and not any(
            self._worth(interval, f) for f in plan(interval, symbol, start, end, now.astimezone(UTC)).files
        ):
            yield from self._from_rest(symbol, interval, start, end)  # no file would save a request
            return
        first = self._first_open(symbol, interval, start, end)
        if first is None:
            return  # Binance has no bar in the range (before listing, or delisted): nothing to plan
        layout = plan(interval, symbol, first, end, now.astimezone(UTC))
        yield from self._by_cost(symbol, interval, layout.files, first, end)
        if layout.rest_from < end:
            if self.via is Via.auto:
                yield from self._from_rest(symbol, interval, layout.rest_from, end)
            else:
                log.info("archive: %s %s from %s is not archived yet", symbol, interval, layout.rest_from)

    def _by_cost(
        self, symbol: str, interval: str, files: list[ArchiveFile], start: datetime, end: datetime
    ) -> Iterator[Sequence[Bar] | BarFile]:
        """Files worth downloading from the archive (`_worth`), the other spans from REST, in time
        order."""
        batch: list[ArchiveFile] = []
        rest_span: tuple[datetime, datetime] | None = None
        for file in files:
            if self._worth(interval, file):
                if rest_span is not None:
                    yield from self._from_rest(symbol, interval, *rest_span)
                    rest_span = None
                batch.append(file)
                continue
            if batch:
                yield from self._from_files(symbol, interval, batch, start, end)
                batch = []
            rest_span = (rest_span[0] if rest_span else max(start, file.start), min(end, file.end))
        if batch:
            yield from self._from_files(symbol, interval, batch, start, end)
        if rest_span is not None:
            yield from self._from_rest(symbol, interval, *rest_span)

    def _worth(self, interval: str, file: ArchiveFile) -> bool:
        """Whether to download `file`: always with `--via archive`, else when it replaces at least one
        full REST page (a month of 1h bars, 744, is one klines request: cheaper than a zip)."""
        return self.via is Via.archive or count_bars(interval, file.start, file.end) >= PAGE_SIZE

    def _first_open(self, symbol: str, interval: str, start: datetime, end: datetime) -> datetime | None:
        """Open time of the first bar Binance has in [start, end): one light request that spares a
        404 per day for spans before the listing."""
        if start >= end:
            return None
        rows = self.rest.rest.klines(symbol, interval, to_ms(start), to_ms(end) - 1, 1)
        return max(start, from_ms(kline_open_ms(rows[0]))) if rows else None

    def _from_files(
        self, symbol: str, interval: str, files: Iterable[ArchiveFile], start: datetime, end: datetime
    ) -> Iterator[Sequence[Bar] | BarFile]:
        for got in self.archive.fetch_all(files):
            if got.path is None:
                yield from self._instead_of(got.file, symbol, interval, start, end)
                continue
            span = (max(start, got.file.start), min(end, got.file.end))
            yield KlinesFile(got.path, got.file.name, symbol, interval, *span, counted=self._count_archived)

    def _count_archived(self, count: int) -> None:
        self.archive_bars += count

    def _instead_of(
        self, missing: ArchiveFile, symbol: str, interval: str, start: datetime, end: datetime
    ) -> Iterator[Sequence[Bar] | BarFile]:
        """A file the archive does not have: its days (for a month), else REST (in `auto`)."""
        if missing.period == MONTHLY:
            log.info("archive: %s is missing; using its daily files", missing.name)
            yield from self._from_files(symbol, interval, days_of(missing, interval, symbol), start, end)
            return
        self.missing_files.append(missing.name)
        span = (max(start, missing.start), min(end, missing.end))
        if self.via is Via.auto:
            log.info("archive: %s is missing; fetching %s to %s from REST", missing.name, *span)
            yield from self._from_rest(symbol, interval, *span)
        else:
            log.warning("archive: %s is missing; %s to %s left unfilled", missing.name, *span)

    def _from_rest(
        self, symbol: str, interval: str, start: datetime, end: datetime
    ) -> Iterator[Sequence[Bar]]:
        for page in self.rest.fetch_bars(symbol, interval, start, end):
            self.rest_bars += len(page)
            yield page


@dataclass(frozen=True)
class KlinesFile:
    """A verified klines zip as a `BarFile`: bars opening in [start, end), as CSV or as records.

    Valid until the source moves on to the next file (the download loop then deletes it)."""

    path: Path
    name: str
    symbol: str
    interval: str
    start: datetime
    end: datetime
    counted: Callable[[int], None]

    def csv(self) -> AbstractContextManager[tuple[IO[bytes], bool]]:
        return open_csv(self.path, self.name)

    def bars(self) -> Iterator[Sequence[Bar]]:
        for page in read_klines(self.path, self.name, self.symbol, self.interval):
            yield [bar for bar in page if self.start <= bar.timestamp < self.end]

    def imported(self, count: int) -> None:
        self.counted(count)
