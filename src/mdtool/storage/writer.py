"""Idempotent batched writes of bars and ticks (docs/architecture.md, "Tables and keys").

Bars: insert, or update an existing bar only where a value differs (a corrected bar replaces the old
one; an identical re-run changes nothing, not even `ingested_at`). Ticks: insert, ignore duplicates.

On PostgreSQL the fast path is COPY. A batch is first COPYed optimistically straight into the table
inside a savepoint: fresh data (the common case for backfills and streams) then costs one COPY. If
the batch collides with stored rows the savepoint is rolled back and the batch goes through a
temporary staging table and `INSERT ... SELECT ... ON CONFLICT`; after a collision the next batch of
that table skips the optimistic attempt, because collisions come in runs (a re-run, a reconnect).
On SQLite a batch is ready-made text rows sent 100 to a statement (`storage/sqlite_writes.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from operator import attrgetter, lt
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Engine, text

from mdtool.records import Bar, Tick
from mdtool.storage.copy_text import bars_copy_text, ticks_copy_text
from mdtool.storage.engine import database_errors, is_postgres
from mdtool.storage.schema import BAR_KEY, BAR_VALUES, OHLCV_TABLE, TICK_KEY, TICK_VALUES, TICKS_TABLE
from mdtool.storage.sqlite_writes import insert_ticks, upsert_bars

BAR_COLUMNS = BAR_KEY + BAR_VALUES
TICK_COLUMNS = TICK_KEY + TICK_VALUES
CopyRows = list[tuple[Any, ...]] | str
"""What COPY sends: rows for psycopg to format, or COPY text already formatted (`storage/copy_text.py`)."""


def write_bars(engine: Engine, bars: Iterable[Bar]) -> int:
    """Upsert bars; returns how many rows were inserted or changed (a one-off `RecordWriter`)."""
    return RecordWriter(engine).write_bars(bars)


def write_ticks(engine: Engine, new_ticks: Iterable[Tick]) -> int:
    """Insert ticks, ignoring ones already stored; returns how many were new (a one-off `RecordWriter`)."""
    return RecordWriter(engine).write_ticks(new_ticks)


class RecordWriter:
    """Writes batches of bars and ticks to one database, remembering what helps the next batch.

    On PostgreSQL it remembers, per table, whether the last batch collided with stored rows, so that
    a run of collisions skips the optimistic COPY. A caller that writes many batches (the batching
    writer, the backfill) keeps one; the module's `write_bars`/`write_ticks` make a fresh one per call.
    Not thread-safe: one writer per writing thread.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._collided: dict[str, bool] = {}

    def write_bars(self, bars: Iterable[Bar]) -> int:
        """Upsert bars; returns how many rows were inserted or changed."""
        unique = _dedupe_bars(bars)
        if not unique:
            return 0
        with database_errors(f"cannot store {len(unique)} bars"), self.engine.begin() as conn:
            if is_postgres(self.engine):
                rows = bars_copy_text(unique) or list(map(_bar_row, unique))
                return self._copy_or_merge(conn, OHLCV_TABLE, BAR_COLUMNS, BAR_KEY, rows, len(unique))
            return upsert_bars(conn, unique)

    def write_ticks(self, new_ticks: Iterable[Tick]) -> int:
        """Insert ticks, ignoring ones already stored; returns how many were new.

        Duplicates inside the batch need no Python pass: COPY rejects them (and the batch takes the
        merge path), and `ON CONFLICT DO NOTHING` keeps the first copy, as it does against stored rows.
        """
        batch = list(new_ticks)
        if not batch:
            return 0
        with database_errors(f"cannot store {len(batch)} ticks"), self.engine.begin() as conn:
            if is_postgres(self.engine):
                rows = ticks_copy_text(batch) or [_tick_row(t) for t in batch]
                return self._copy_or_merge(conn, TICKS_TABLE, TICK_COLUMNS, TICK_KEY, rows, len(batch))
            return insert_ticks(conn, batch)

    def _copy_or_merge(
        self,
        conn: Connection,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        rows: CopyRows,
        count: int,
    ) -> int:
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        if not self._collided.get(table, False) and _try_copy(conn, raw, table, columns, rows):
            self._collided[table] = False
            return count
        stage = f"mdtool_stage_{table}"
        conn.execute(
            text(
                f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" '
                f'(LIKE "{table}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
            )
        )
        _copy(raw, stage, columns, rows)
        changed = int(conn.execute(text(_merge_sql(table, stage, columns, key))).rowcount)
        self._collided[table] = changed < count
        return changed


_bar_key: Callable[[Bar], tuple[Any, ...]] = attrgetter(*BAR_KEY)
_bar_row: Callable[[Bar], tuple[Any, ...]] = attrgetter(*BAR_COLUMNS)
"""A bar as a COPY row, in `BAR_COLUMNS` order (attrgetter: C speed on the backfill's hot path)."""


def _dedupe_bars(bars: Iterable[Bar]) -> list[Bar]:
    """Last version of each bar wins (a batch may carry a bar and then its correction), in the place
    of the first. The common batch, one series in ascending time, has no duplicates by construction:
    strictly ascending timestamps alone prove it (two bars with one key share a timestamp, whatever
    their series), checked with one C-level pass, because hashing keys costs more than writing a row."""
    batch = bars if isinstance(bars, list) else list(bars)
    if len(batch) < 2:
        return batch
    times = list(map(attrgetter("timestamp"), batch))
    if all(map(lt, times, islice(times, 1, None))):
        return batch
    return list(dict(zip(map(_bar_key, batch), batch, strict=True)).values())


def _tick_row(tick: Tick) -> tuple[Any, ...]:
    payload = Jsonb(tick.payload) if tick.payload is not None else None
    return (
        tick.exchange, tick.symbol, tick.timestamp, tick.source, tick.trade_id,
        tick.price, tick.size, tick.side, payload,
    )  # fmt: skip


def _try_copy(
    conn: Connection,
    raw: psycopg.Connection[Any],
    table: str,
    columns: Sequence[str],
    rows: CopyRows,
) -> bool:
    """COPY inside a savepoint; False (and nothing written) when a row collides with a stored one."""
    savepoint = conn.begin_nested()
    try:
        _copy(raw, table, columns, rows)
    except psycopg.errors.UniqueViolation:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def _copy(raw: psycopg.Connection[Any], table: str, columns: Sequence[str], rows: CopyRows) -> None:
    column_list = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table}" ({column_list}) FROM STDIN') as copy:
        if isinstance(rows, str):
            copy.write(rows)
            return
        for row in rows:
            copy.write_row(row)


def _merge_sql(table: str, stage: str, columns: Sequence[str], key: Sequence[str]) -> str:
    column_list = ", ".join(f'"{c}"' for c in columns)
    key_list = ", ".join(f'"{c}"' for c in key)
    values = [c for c in columns if c not in key]
    insert = f'INSERT INTO "{table}" ({column_list}) SELECT {column_list} FROM "{stage}" '
    if table == TICKS_TABLE:
        return insert + f"ON CONFLICT ({key_list}) DO NOTHING"
    assignments = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in values)
    current = ", ".join(f'"{table}"."{c}"' for c in values)
    incoming = ", ".join(f'EXCLUDED."{c}"' for c in values)
    return (
        insert
        + f"ON CONFLICT ({key_list}) DO UPDATE SET {assignments}, ingested_at = now() "
        + f"WHERE ({current}) IS DISTINCT FROM ({incoming})"
    )
