"""One batching writer shared by every producer (stream readers, webhook handlers, servers).

Producers call `submit()`, which never touches the database and never blocks: a socket reader or an
event loop must not wait on a slow or dead database. A worker thread flushes by size or by time.
When the database fails, the batch stays queued and is retried with capped backoff; what does not fit
in memory is spooled to disk, so an outage costs latency, never accepted data.

`submit()` returns a future that completes when the records are committed, so a caller that must
answer only after the commit (the webhook) can wait on it with its own timeout.
"""

from __future__ import annotations

import logging
import pickle
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from mdtool.errors import DatabaseError, RejectedDataError
from mdtool.records import Bar, Tick
from mdtool.storage.writer import RecordWriter

log = logging.getLogger(__name__)

Record = Bar | Tick
Chunk = tuple[list[Record], float]
"""Records queued by one call, with the time they were queued: the queue holds chunks, not records,
so a stream read of hundreds of trades costs one queue operation."""


@dataclass
class WriterStats:
    """Counters for status lines and summaries."""

    submitted: int = 0
    committed: int = 0
    stored: int = 0
    flushes: int = 0
    failures: int = 0
    spooled: int = 0
    rejected: int = 0
    last_error: str = ""


class BatchingWriter:
    """Bounded-latency, never-dropping writer; use as a context manager or `start()`/`close()`."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 10_000,
        flush_interval: float = 0.25,
        memory_limit: int = 500_000,
        spool_dir: Path | None = None,
        retry_initial: float = 0.5,
        retry_max: float = 10.0,
        on_commit: Callable[[Sequence[Record]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.memory_limit = memory_limit
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.on_commit = on_commit
        self.stats = WriterStats()
        self._records = RecordWriter(engine)  # used by the worker thread only
        self._spool_dir = spool_dir
        self._pending: deque[Chunk] = deque()
        self._pending_count = 0
        self._spool: deque[Path] = deque()
        self._waiters: deque[tuple[int, Future[None]]] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._give_up_at = float("inf")
        self._healthy = True
        self._thread = threading.Thread(target=self._run, name="mdtool-writer", daemon=True)

    def __enter__(self) -> BatchingWriter:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def healthy(self) -> bool:
        """False while the last attempt to write failed (the database is down or refusing)."""
        return self._healthy

    @property
    def pending(self) -> int:
        """Records accepted but not yet committed."""
        return self.stats.submitted - self.stats.committed

    def start(self) -> BatchingWriter:
        self._thread.start()
        return self

    def put(self, records: Sequence[Record]) -> None:
        """Queue records without a completion future: the hot path of stream readers, which hand over
        everything one read delivered in one call (one lock, one clock reading)."""
        if not records:
            return
        chunk = (list(records), time.monotonic())
        with self._cond:
            if self._closing:
                raise DatabaseError("the writer is closed; nothing more can be stored")
            was_empty = not self._pending
            self._queue(chunk)
            if was_empty or self._pending_count >= self.max_batch:
                self._cond.notify()

    def submit(self, record: Record) -> Future[None]:
        """Queue one record; the future completes once it is committed."""
        return self.submit_many((record,))

    def submit_many(self, records: Iterable[Record]) -> Future[None]:
        """Queue records; the future completes once all of them are committed."""
        future: Future[None] = Future()
        chunk = (list(records), time.monotonic())
        with self._cond:
            if self._closing:
                raise DatabaseError("the writer is closed; nothing more can be stored")
            if chunk[0]:
                self._queue(chunk)
            self._waiters.append((self.stats.submitted, future))
            self._cond.notify()
        return future

    def _queue(self, chunk: Chunk) -> None:
        """Append a chunk (lock held)."""
        self._pending.append(chunk)
        self._pending_count += len(chunk[0])
        self.stats.submitted += len(chunk[0])

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed; False on timeout."""
        with self._cond:
            target = self.stats.submitted
            self._cond.notify()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.stats.committed < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining if remaining is None else min(remaining, 0.5))
        return True

    def close(self, timeout: float | None = 30.0) -> bool:
        """Flush what is queued and stop the worker; False if records are still uncommitted.

        With the database down, retries go on until `timeout`, then the count left is logged.
        """
        with self._cond:
            self._closing = True
            self._give_up_at = time.monotonic() + (timeout if timeout is not None else float("inf"))
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        left = self.pending
        if left:
            log.error("writer stopped with %d records not committed (database unavailable)", left)
        return left == 0

    def _run(self) -> None:
        delay = self.retry_initial
        batch: list[Record] | None = None
        while True:
            if batch is None:
                batch = self._next_batch()
                if batch is None:
                    return
            try:
                self._write_isolating_rejects(batch)
            except DatabaseError as error:
                self._record_failure(error)
                if self._wait_before_retry(delay):
                    return
                delay = min(delay * 2, self.retry_max)
                continue
            delay = self.retry_initial
            self._record_success(batch)
            batch = None

    def _next_batch(self) -> list[Record] | None:
        """Oldest records first: spooled ones, then memory, waiting for size or time."""
        with self._cond:
            while True:
                if self._spool:
                    return self._read_spool()
                if self._pending:
                    oldest = self._pending[0][1]
                    due = oldest + self.flush_interval
                    if self._closing or self._pending_count >= self.max_batch or time.monotonic() >= due:
                        return self._take(self.max_batch)
                    self._cond.wait(max(due - time.monotonic(), 0.001))
                elif self._closing:
                    return None
                else:
                    self._cond.wait()

    def _take(self, limit: int) -> list[Record]:
        """Up to `limit` of the oldest queued records (lock held); a chunk that does not fit is split and
        its rest stays first in the queue with its original time."""
        batch: list[Record] = []
        pending = self._pending
        while pending and len(batch) < limit:
            records, queued = pending.popleft()
            room = limit - len(batch)
            if len(records) > room:
                pending.appendleft((records[room:], queued))
                records = records[:room]
            batch.extend(records)
        self._pending_count -= len(batch)
        return batch

    def _write_isolating_rejects(self, batch: list[Record]) -> None:
        """Write a batch; when the database refuses some rows for good, bisect to find them, store the
        rest, and set the refused ones aside (logged and kept in a rejects file), so one bad record can
        neither block the writer forever nor take its batch down with it."""
        try:
            self._write(batch)
            return
        except RejectedDataError as error:
            refused: Exception = error
        except DatabaseError:
            raise
        except Exception as error:  # a value the driver cannot adapt is refused like bad data
            refused = error
        if len(batch) == 1:
            self._reject(batch[0], refused)
            return
        middle = len(batch) // 2
        self._write_isolating_rejects(batch[:middle])
        self._write_isolating_rejects(batch[middle:])

    def _reject(self, record: Record, error: Exception) -> None:
        self.stats.rejected += 1
        if self._spool_dir is None:
            self._spool_dir = Path(tempfile.mkdtemp(prefix="mdtool-spool-"))
        path = self._spool_dir / "rejected.pickle-stream"
        with path.open("ab") as handle:
            pickle.dump(record, handle)
        log.error("the database refused a record for good (kept in %s): %s: %r", path, error, record)

    def _write(self, batch: list[Record]) -> None:
        kinds = set(map(type, batch))
        if kinds == {Tick}:  # a stream's batch: no pass to sort it
            bars: list[Bar] = []
            tick_list: list[Tick] = batch  # type: ignore[assignment]
        else:
            bars = [r for r in batch if isinstance(r, Bar)]
            tick_list = [r for r in batch if isinstance(r, Tick)]
        stored = 0
        if bars:
            stored += self._records.write_bars(bars)
        if tick_list:
            stored += self._records.write_ticks(tick_list)
        self.stats.stored += stored

    def _record_success(self, batch: list[Record]) -> None:
        if not self._healthy:
            log.warning("database is back: writing resumed (%d records waiting)", self.pending)
        self._healthy = True
        done: list[Future[None]] = []
        with self._cond:
            self.stats.committed += len(batch)
            self.stats.flushes += 1
            while self._waiters and self._waiters[0][0] <= self.stats.committed:
                done.append(self._waiters.popleft()[1])
            self._cond.notify_all()
        for future in done:
            future.set_result(None)
        if self.on_commit is not None:
            self.on_commit(batch)

    def _record_failure(self, error: DatabaseError) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(error)
        if self._healthy:
            log.warning("database write failed, keeping %d records and retrying: %s", self.pending, error)
        self._healthy = False
        with self._cond:
            self._spool_overflow()

    def _wait_before_retry(self, delay: float) -> bool:
        """Sleep `delay`; True when closing and the close deadline has passed (give up, keep count)."""
        with self._cond:
            if self._closing and time.monotonic() >= self._give_up_at:
                return True
            self._cond.wait(delay)
            return False

    def _spool_overflow(self) -> None:
        """Move the oldest in-memory records beyond the limit to disk (lock held); FIFO is kept
        because every spooled chunk is older than everything still in memory."""
        while self._pending_count > self.memory_limit:
            if self._spool_dir is None:
                self._spool_dir = Path(tempfile.mkdtemp(prefix="mdtool-spool-"))
            chunk = self._take(min(self.max_batch, self._pending_count - self.memory_limit))
            path = self._spool_dir / f"{time.monotonic_ns()}.pickle"
            path.write_bytes(pickle.dumps(chunk))
            self._spool.append(path)
            self.stats.spooled += len(chunk)
            log.warning("spooled %d records to %s while the database is down", len(chunk), path)

    def _read_spool(self) -> list[Record]:
        path = self._spool.popleft()
        chunk: list[Record] = pickle.loads(path.read_bytes())  # noqa: S301 - our own file
        path.unlink(missing_ok=True)
        return chunk
