"""Progress reporting for long work: a rich bar on a terminal, plain log lines otherwise (cron, CI).

Written once and used by every venue's backfill, so all of them look and log alike.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

log = logging.getLogger(__name__)


class BackfillProgress(Protocol):
    """What the backfill driver reports as it goes."""

    def start(self, description: str, total_bars: int) -> None: ...

    def advance(self, bars: int, requests: int) -> None: ...

    def finish(self) -> None: ...


class RichBackfillProgress:
    """Bar with bars done / expected, requests made, elapsed time and ETA."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("bars · {task.fields[requests]} requests"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def start(self, description: str, total_bars: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task(description, total=max(total_bars, 1), requests=0)

    def advance(self, bars: int, requests: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=bars, requests=requests)

    def finish(self) -> None:
        self._progress.stop()


class LogBackfillProgress:
    """One log line at the start, then at most one every `every` seconds."""

    def __init__(self, every: float = 10.0) -> None:
        self._every = every
        self._description = ""
        self._total = 0
        self._done = 0
        self._last = 0.0

    def start(self, description: str, total_bars: int) -> None:
        self._description = description
        self._total = total_bars
        self._last = time.monotonic()
        log.info("%s: up to %d bars to fetch", description, total_bars)

    def advance(self, bars: int, requests: int) -> None:
        self._done += bars
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            log.info("%s: %d/%d bars, %d requests", self._description, self._done, self._total, requests)

    def finish(self) -> None:
        return None


class NoProgress:
    """For library callers that want no output."""

    def start(self, description: str, total_bars: int) -> None:
        return None

    def advance(self, bars: int, requests: int) -> None:
        return None

    def finish(self) -> None:
        return None
