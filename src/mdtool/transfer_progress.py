"""Progress of a file import: files done of planned, bytes downloaded, rows stored.

A rich bar on a terminal, log lines otherwise (cron, CI), like `progress` for bars. Callbacks may come
from download threads: rich's `Progress` is thread-safe, and the log variant guards its counters.
"""

from __future__ import annotations

import logging
import threading
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
)

log = logging.getLogger(__name__)


class TransferProgress(Protocol):
    """What a file import reports as it goes."""

    def start(self, description: str, files: int) -> None: ...

    def more_files(self, count: int) -> None: ...

    def file_done(self) -> None: ...

    def downloaded(self, size: int) -> None: ...

    def rows(self, count: int) -> None: ...

    def finish(self) -> None: ...


class RichTransferProgress:
    """Two lines: files (done/planned), and bytes downloaded with speed plus rows stored."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._lock = threading.Lock()
        self._files: TaskID | None = None
        self._counts: TaskID | None = None
        self._bytes = 0
        self._rows = 0

    def start(self, description: str, files: int) -> None:
        self._progress.start()
        self._files = self._progress.add_task(description, total=max(files, 1), unit="files")
        self._counts = self._progress.add_task(self._counts_text(), total=None, unit="")

    def more_files(self, count: int) -> None:
        if self._files is not None:
            total = self._progress.tasks[self._files].total or 0
            self._progress.update(self._files, total=total + count)

    def file_done(self) -> None:
        if self._files is not None:
            self._progress.advance(self._files)

    def downloaded(self, size: int) -> None:
        with self._lock:
            self._bytes += size
        self._show()

    def rows(self, count: int) -> None:
        with self._lock:
            self._rows += count
        self._show()

    def _counts_text(self) -> str:
        return f"  {self._bytes / 1e6:,.1f} MB downloaded · {self._rows:,} rows"

    def _show(self) -> None:
        if self._counts is not None:
            self._progress.update(self._counts, description=self._counts_text())

    def finish(self) -> None:
        self._progress.stop()


class LogTransferProgress:
    """One line at the start, then at most one every `every` seconds."""

    def __init__(self, every: float = 10.0) -> None:
        self._every = every
        self._lock = threading.Lock()
        self._description = ""
        self._files = self._done = self._bytes = self._rows = 0
        self._last = 0.0

    def start(self, description: str, files: int) -> None:
        self._description, self._files, self._last = description, files, time.monotonic()
        log.info("%s: %d archive files to import", description, files)

    def more_files(self, count: int) -> None:
        with self._lock:
            self._files += count

    def file_done(self) -> None:
        with self._lock:
            self._done += 1
        self._maybe_log()

    def downloaded(self, size: int) -> None:
        with self._lock:
            self._bytes += size
        self._maybe_log()

    def rows(self, count: int) -> None:
        with self._lock:
            self._rows += count
        self._maybe_log()

    def finish(self) -> None:
        return None

    def _maybe_log(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self._every:
                return
            self._last = now
            done, files, size, rows = self._done, self._files, self._bytes, self._rows
        log.info("%s: %d/%d files, %.1f MB, %d rows", self._description, done, files, size / 1e6, rows)


class NoTransferProgress:
    """For library callers that want no output."""

    def start(self, description: str, files: int) -> None:
        return None

    def more_files(self, count: int) -> None:
        return None

    def file_done(self) -> None:
        return None

    def downloaded(self, size: int) -> None:
        return None

    def rows(self, count: int) -> None:
        return None

    def finish(self) -> None:
        return None
