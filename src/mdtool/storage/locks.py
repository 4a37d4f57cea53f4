"""A lock per series, so two overlapping runs (cron firing while the last run still goes) never race.

PostgreSQL: a session advisory lock, which the server releases if the process dies. SQLite: an
exclusive `flock` on a file beside the database, which the kernel releases likewise. The writes are
idempotent anyway; the lock saves the second run from fetching the same data twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from mdtool.errors import BusyError
from mdtool.storage.engine import database_errors, is_postgres

_POLL = 0.2


@contextmanager
def series_lock(engine: Engine, key: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock named `key`, waiting up to `wait` seconds; `BusyError` if it stays taken."""
    if is_postgres(engine):
        with _advisory_lock(engine, key, wait):
            yield
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with _file_lock(Path(database), key, wait):
        yield


def _busy(key: str) -> BusyError:
    return BusyError(f"another run is already working on {key}; try again later or pass --wait-for-lock")


@contextmanager
def _advisory_lock(engine: Engine, key: str, wait: float) -> Iterator[None]:
    deadline = time.monotonic() + wait
    with database_errors("cannot take the series lock"), engine.connect() as conn:
        statement = text("SELECT pg_try_advisory_lock(hashtextextended(:key, 0))")
        while not conn.execute(statement, {"key": key}).scalar():
            if time.monotonic() >= deadline:
                raise _busy(key)
            time.sleep(_POLL)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))"), {"key": key})
            conn.commit()


@contextmanager
def _file_lock(database: Path, key: str, wait: float) -> Iterator[None]:
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = database.with_name(f"{database.name}.{digest}.lock")
    deadline = time.monotonic() + wait
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy(key) from None
                time.sleep(_POLL)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
