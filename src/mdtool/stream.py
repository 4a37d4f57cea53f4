"""The venue-independent live-stream driver: writer, signals, status line, clean shutdown.

The adapter's `run()` reads the venue on its own thread and hands every tick to the shared
`BatchingWriter`, which never blocks it. SIGINT/SIGTERM set a stop event: the adapter stops reading,
the writer flushes what it holds, and the process exits 0 only once everything accepted is committed.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from sqlalchemy import Engine

from mdtool.errors import DatabaseError, MdtoolError
from mdtool.sources import StreamStatus, TickStream
from mdtool.storage.batching import BatchingWriter
from mdtool.storage.engine import check_connection

log = logging.getLogger(__name__)

StatusCallback = Callable[[StreamStatus, BatchingWriter], None]


@dataclass
class StreamSummary:
    """What one stream session did."""

    trades: int
    stored: int
    reconnects: int
    gaps_filled: int
    elapsed: float

    def line(self) -> str:
        return (
            f"{self.trades} ticks received, {self.stored} stored, {self.reconnects} reconnects, "
            f"{self.gaps_filled} filled after reconnects, {self.elapsed:.1f} s"
        )


def run_stream(
    engine: Engine,
    stream: TickStream,
    symbols: Sequence[str],
    *,
    on_status: StatusCallback | None = None,
    status_every: float = 0.5,
    stop: threading.Event | None = None,
    flush_interval: float = 0.25,
) -> StreamSummary:
    """Stream until SIGINT/SIGTERM (or `stop`), then flush; raises if the adapter fails for good."""
    started = time.monotonic()
    check_connection(engine)
    stop = stop or threading.Event()
    status = StreamStatus()
    failure: list[BaseException] = []
    writer = BatchingWriter(engine, flush_interval=flush_interval).start()

    def read() -> None:
        try:
            stream.run(symbols, writer.put, stop, status)
        except BaseException as error:
            failure.append(error)
        finally:
            stop.set()

    reader = threading.Thread(target=read, name="mdtool-stream-reader", daemon=True)
    with _stop_on_signals(stop):
        reader.start()
        while not stop.wait(status_every):
            if on_status is not None:
                on_status(status, writer)
        log.info("stopping: flushing %d buffered ticks", writer.pending)
        reader.join(timeout=15)
    flushed = writer.close(timeout=30)
    summary = StreamSummary(
        status.trades, writer.stats.stored, status.reconnects, status.gaps_filled, time.monotonic() - started
    )
    if failure:
        error = failure[0]
        if isinstance(error, MdtoolError):
            raise error
        raise MdtoolError(f"stream stopped: {error}") from error
    if not flushed:
        raise DatabaseError(
            f"{writer.pending} ticks could not be stored before exit: {writer.stats.last_error}"
        )
    return summary


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Route SIGINT/SIGTERM to the stop event while streaming (signals can only be set in the main thread)."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
