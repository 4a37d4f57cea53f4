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

from mdtool.errors import DatabaseError, MdtoolError, UsageError
from mdtool.selection import Selection
from mdtool.sources import SelectionStream, StreamStatus, TickSink, TickStream
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
    symbols: int = 0
    connections: int = 0
    holes_recorded: int = 0

    def line(self) -> str:
        market = f"{self.symbols} symbols on {self.connections} connections, " if self.connections > 1 else ""
        recorded = f", {self.holes_recorded} holes recorded unfilled" if self.holes_recorded else ""
        return (
            f"{self.trades} ticks received, {self.stored} stored, {market}{self.reconnects} reconnects, "
            f"{self.gaps_filled} filled after reconnects{recorded}, {self.elapsed:.1f} s"
        )


def run_stream(
    engine: Engine,
    stream: TickStream | SelectionStream,
    symbols: Sequence[str] | Selection,
    *,
    on_status: StatusCallback | None = None,
    status_every: float = 0.5,
    stop: threading.Event | None = None,
    flush_interval: float = 0.25,
) -> StreamSummary:
    """Stream until SIGINT/SIGTERM (or `stop`), then flush; raises if the adapter fails for good.

    `symbols` is a list of names or a `Selection`; a selection that needs the venue's listing (`--all`,
    `--quote`, patterns, `--shard`) needs a stream that accepts one (`SelectionStream`).
    """
    started = time.monotonic()
    reader_run = _reader(stream, symbols)
    check_connection(engine)
    stop = stop or threading.Event()
    status = StreamStatus()
    failure: list[BaseException] = []
    writer = BatchingWriter(engine, flush_interval=flush_interval).start()

    def read() -> None:
        try:
            reader_run(writer.put, stop, status)
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
        reader.join(timeout=15)
        if not failure or writer.pending:
            log.info("stopping: flushing %d buffered ticks", writer.pending)
    flushed = writer.close(timeout=30)
    summary = StreamSummary(
        status.trades,
        writer.stats.stored,
        status.reconnects,
        status.gaps_filled,
        time.monotonic() - started,
        symbols=status.symbols,
        connections=status.connections_total,
        holes_recorded=status.holes_recorded,
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


def _reader(
    stream: TickStream | SelectionStream, symbols: Sequence[str] | Selection
) -> Callable[[TickSink, threading.Event, StreamStatus], None]:
    """How to start `stream` on `symbols`; a selection a plain stream cannot resolve is a usage error."""
    if isinstance(stream, SelectionStream):
        selecting = stream
        return lambda sink, stop, status: selecting.run(symbols, sink, stop, status)
    if isinstance(symbols, Selection):
        if symbols.selects_from_listing or symbols.shard is not None:
            raise UsageError(
                "this venue cannot select symbols from a listing (--all, --quote, patterns, --shard)"
            )
        names: Sequence[str] = list(symbols.symbols)
    else:
        names = symbols
    plain = stream
    return lambda sink, stop, status: plain.run(names, sink, stop, status)


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
