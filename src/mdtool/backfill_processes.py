"""One backfill split across worker processes: past the one core a Python process can use.

A backfill's own work (decoding the venue's JSON, checking and building the bars, formatting their
COPY text) holds the interpreter lock, so one process tops out at about one core however many
threads it runs. `BackfillWorkers` lets the driver (`mdtool.backfill`) cut the missing span into
contiguous parts of about equal bar counts, each fetched and stored by its own process through the
same `fetch_and_store` a single-process run uses, while this process keeps the series lock, shows
the progress of all of them and writes the summary.

Cuts fall on bar opens, so the parts' answers add up exactly to the whole span's: every bar is fetched
once, and what the venue did not send (the empty ranges remembered for the next run) is the union of
the parts'. The workers share the venue's request budget through the venue itself: Binance reports the
weight the whole IP has used on every response, and each worker's gate paces by that report.

A worker is a fresh interpreter (the `spawn` start method: the parent runs threads, which `fork`
would copy half-way through their work), so it rebuilds its source from `make_source`, a picklable
callable, and its engine from the database URL. Workers ignore Ctrl-C; the parent stops them, and a
worker whose parent was killed ends by itself. A worker that fails sends its error, the parent stops
the others and raises it; what they committed stays, and the next run fetches only what is still
missing.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from logging.handlers import QueueHandler
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from mdtool.errors import MdtoolError
from mdtool.intervals import MONTH, count_bars, floor_open, nominal_length
from mdtool.ranges import Range

if TYPE_CHECKING:
    from mdtool.progress import BackfillProgress
    from mdtool.sources import BarSource

MIN_BARS_PER_WORKER = 10_000
"""A worker starts a fresh interpreter (about a second); a share smaller than this is not worth one."""
_POLL = 0.2
"""Seconds between checks that every worker is still alive while waiting for their messages."""
_STOP_WAIT = 5.0
"""Seconds a stopped worker gets to end before it is killed."""


@dataclass(frozen=True)
class BackfillWorkers:
    """How many processes share a backfill, and how each builds its own source.

    `make_source` must be picklable (a module-level function, or a `functools.partial` of one with
    picklable arguments): each worker calls it once.
    """

    count: int
    make_source: Callable[[], BarSource]


@dataclass(frozen=True)
class PartResult:
    """What one worker did: bars received and newly stored, requests made, ranges the venue left empty."""

    received: int
    stored: int
    requests: int
    empty: list[Range]


PartJob = Callable[[Engine, "BarSource", list[Range], "BackfillProgress"], PartResult]
"""Fetches and stores the ranges of one part (the driver's `fetch_and_store`)."""


def split_ranges(interval: str, ranges: list[Range], parts: int) -> list[list[Range]]:
    """`ranges` cut into at most `parts` contiguous shares of about equal bar counts, cut on bar opens.

    Fewer shares come back when a share would hold fewer than `MIN_BARS_PER_WORKER` bars, and one
    (everything) for monthly bars, whose lengths differ. Each share is a list of ranges in order.
    """
    total = sum(count_bars(interval, start, end) for start, end in ranges)
    parts = max(1, min(parts, total // MIN_BARS_PER_WORKER))
    if parts == 1 or interval == MONTH:
        return [list(ranges)]
    step = nominal_length(interval)
    shares: list[list[Range]] = [[]]
    quota = total / parts
    taken = 0
    for start, end in ranges:
        while start < end:
            room = round(quota * len(shares)) - taken
            cut = floor_open(interval, start + step * room) if room > 0 else start
            if len(shares) == parts or cut >= end:
                shares[-1].append((start, end))
                taken += count_bars(interval, start, end)
                break
            if cut > start:
                shares[-1].append((start, cut))
                taken += count_bars(interval, start, cut)
            shares.append([])
            start = cut
    return [share for share in shares if share]


def run_parts(
    workers: BackfillWorkers,
    engine: Engine,
    shares: list[list[Range]],
    job: PartJob,
    progress: BackfillProgress,
) -> list[PartResult]:
    """Run `job` over each share in its own process; their progress is shown here as it comes."""
    context = multiprocessing.get_context("spawn")
    messages: Queue[tuple[Any, ...]] = context.Queue()
    url = engine.url.render_as_string(hide_password=False)
    processes = [
        context.Process(
            target=_work,
            args=(index, job, workers.make_source, url, share, messages, _log_levels(), os.getpid()),
            name=f"mdtool-backfill-{index}",
            daemon=True,
        )
        for index, share in enumerate(shares)
    ]
    results: dict[int, PartResult] = {}
    requests = [0] * len(shares)
    ended: set[int] = set()
    try:
        for process in processes:
            process.start()
        while len(results) < len(processes):
            try:
                message = messages.get(timeout=_POLL)
            except queue.Empty:
                ended = _check_alive(processes, results, ended)
                continue
            kind, index, *rest = message
            if kind == "advance":
                bars, requests[index] = rest
                progress.advance(bars, sum(requests))
            elif kind == "log":
                logging.getLogger(rest[0].name).handle(rest[0])
            elif kind == "done":
                results[index] = rest[0]
            else:
                raise rest[0]
    finally:
        _stop(processes)
        messages.close()
    return [results[index] for index in range(len(processes))]


def _check_alive(
    processes: Sequence[BaseProcess], results: dict[int, PartResult], ended: set[int]
) -> set[int]:
    """Workers that have ended without a result; raises for one already seen so at the last check.

    A worker's last message is in the pipe before its process ends, but may arrive just after a
    wait for messages timed out: only a second quiet wait proves it was never sent.
    """
    now_ended = {
        i for i, process in enumerate(processes) if i not in results and process.exitcode is not None
    }
    silent = sorted(now_ended & ended)
    if silent:
        raise MdtoolError(
            f"backfill worker {silent[0]} ended unexpectedly (exit code {processes[silent[0]].exitcode}); "
            "what was stored is kept: run the backfill again to fetch the rest"
        )
    return now_ended


def _stop(processes: Sequence[BaseProcess]) -> None:
    started = [process for process in processes if process.pid is not None]
    for process in started:
        if process.is_alive():
            process.terminate()
    for process in started:
        process.join(_STOP_WAIT)
        if process.is_alive():
            process.kill()
            process.join()


def _end_with(parent: int) -> None:
    """Ends this worker when its parent is gone: killed (SIGTERM, SIGKILL), the parent had no chance
    to stop it, and a worker must not go on writing alone. Its open transaction rolls back."""
    while os.getppid() == parent:
        time.sleep(_POLL)
    os._exit(1)


def _log_levels() -> dict[str, int]:
    """This process's levels for the loggers `logs.configure_logging` sets, for a worker to copy."""
    return {name: logging.getLogger(name).level for name in ("", "mdtool", "ib_async")}


class _ParentLogHandler(QueueHandler):
    """Sends a worker's log records to the parent, whose handlers show them (beside its progress bar)."""

    def __init__(self, index: int, messages: Queue[tuple[Any, ...]]) -> None:
        super().__init__(messages)
        self._index = index

    def enqueue(self, record: logging.LogRecord) -> None:
        self.queue.put_nowait(("log", self._index, record))


class _QueueProgress:
    """A worker's progress, sent to the parent that shows it."""

    def __init__(self, index: int, messages: Queue[tuple[Any, ...]]) -> None:
        self._index = index
        self._messages = messages

    def start(self, description: str, total_bars: int) -> None:
        """The parent started the display for the whole span."""

    def advance(self, bars: int, requests: int) -> None:
        self._messages.put(("advance", self._index, bars, requests))

    def finish(self) -> None:
        """The parent finishes the display."""


def _work(
    index: int,
    job: PartJob,
    make_source: Callable[[], BarSource],
    url: str,
    share: list[Range],
    messages: Queue[tuple[Any, ...]],
    log_levels: dict[str, int],
    parent: int,
) -> None:
    """A worker process: fetch and store one share, then report the result (or the error)."""
    from mdtool.gc_tuning import fewer_collections
    from mdtool.storage.engine import create_engine

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    threading.Thread(target=_end_with, args=(parent,), name="mdtool-parent-watch", daemon=True).start()
    logging.getLogger().handlers[:] = [_ParentLogHandler(index, messages)]
    for name, level in log_levels.items():
        logging.getLogger(name).setLevel(level)
    engine = create_engine(url)
    source: BarSource | None = None
    try:
        source = make_source()
        with fewer_collections():
            result = job(engine, source, share, _QueueProgress(index, messages))
        messages.put(("done", index, result))
    except MdtoolError as error:
        messages.put(("error", index, error))
    except Exception as error:  # anything else still reaches the user as one line
        messages.put(("error", index, MdtoolError(f"backfill worker {index} failed: {error!r}")))
    finally:
        if source is not None:
            source.close()
        engine.dispose()
