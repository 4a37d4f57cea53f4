"""Idempotent batched writes of bars and ticks (docs/architecture.md, "Tables and keys").

Bars: insert, or update an existing bar only where a value differs (a corrected bar replaces the old
one; an identical re-run changes nothing, not even `ingested_at`). Ticks: insert, ignore duplicates.

On PostgreSQL the fast path is COPY. A batch is first COPYed optimistically straight into the table
inside a savepoint: fresh data (the common case for backfills and streams) then costs one COPY. If
the batch collides with stored rows the savepoint is rolled back and the batch goes through a
temporary staging table and `INSERT ... SELECT ... ON CONFLICT`; after a collision the next batch of
that table skips the optimistic attempt, because collisions come in runs (a re-run, a reconnect).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Engine, or_, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mdtool.records import Bar, Tick
from mdtool.storage.engine import database_errors, is_postgres
from mdtool.storage.schema import (
    BAR_KEY,
    BAR_VALUES,
    OHLCV_TABLE,
    TICK_KEY,
    TICK_VALUES,
    TICKS_TABLE,
    ohlcv,
    ticks,
)

BAR_COLUMNS = BAR_KEY + BAR_VALUES
TICK_COLUMNS = TICK_KEY + TICK_VALUES
_recent_collisions: dict[tuple[str, str], bool] = {}


def write_bars(engine: Engine, bars: Iterable[Bar]) -> int:
    """Upsert bars; returns how many rows were inserted or changed."""
    unique = _dedupe_bars(bars)
    if not unique:
        return 0
    with database_errors(f"cannot store {len(unique)} bars"), engine.begin() as conn:
        if is_postgres(engine):
            return _copy_or_merge(conn, OHLCV_TABLE, BAR_COLUMNS, BAR_KEY, [_bar_row(b) for b in unique])
        return _sqlite_upsert_bars(conn, unique)


def write_ticks(engine: Engine, new_ticks: Iterable[Tick]) -> int:
    """Insert ticks, ignoring ones already stored; returns how many were new.

    Duplicates inside the batch need no Python pass: COPY rejects them (and the batch takes the merge
    path), and `ON CONFLICT DO NOTHING` keeps the first copy, as it does against stored rows.
    """
    batch = list(new_ticks)
    if not batch:
        return 0
    with database_errors(f"cannot store {len(batch)} ticks"), engine.begin() as conn:
        if is_postgres(engine):
            return _copy_or_merge(conn, TICKS_TABLE, TICK_COLUMNS, TICK_KEY, [_tick_row(t) for t in batch])
        return _sqlite_insert_ticks(conn, batch)


def _dedupe_bars(bars: Iterable[Bar]) -> list[Bar]:
    """Last version of each bar wins: a batch may carry a bar and then its correction."""
    latest: dict[tuple[Any, ...], Bar] = {}
    for bar in bars:
        latest[(bar.exchange, bar.symbol, bar.interval, bar.timestamp)] = bar
    return list(latest.values())


_bar_row: Callable[[Bar], tuple[Any, ...]] = attrgetter(*BAR_COLUMNS)
"""A bar as a COPY row, in `BAR_COLUMNS` order (attrgetter: C speed on the backfill's hot path)."""


def _tick_row(tick: Tick) -> tuple[Any, ...]:
    payload = Jsonb(tick.payload) if tick.payload is not None else None
    return (
        tick.exchange, tick.symbol, tick.timestamp, tick.source, tick.trade_id,
        tick.price, tick.size, tick.side, payload,
    )  # fmt: skip


def _copy_or_merge(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> int:
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    state_key = (str(conn.engine.url), table)
    if not _recent_collisions.get(state_key, False) and _try_copy(conn, raw, table, columns, rows):
        _recent_collisions[state_key] = False
        return len(rows)
    stage = f"mdtool_stage_{table}"
    conn.execute(
        text(
            f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" '
            f'(LIKE "{table}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
        )
    )
    _copy(raw, stage, columns, rows)
    changed = int(conn.execute(text(_merge_sql(table, stage, columns, key))).rowcount)
    _recent_collisions[state_key] = changed < len(rows)
    return changed


def _try_copy(
    conn: Connection,
    raw: psycopg.Connection[Any],
    table: str,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
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


def _copy(
    raw: psycopg.Connection[Any], table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    column_list = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table}" ({column_list}) FROM STDIN') as copy:
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


def _sqlite_upsert_bars(conn: Connection, bars: list[Bar]) -> int:
    statement = sqlite_insert(ohlcv)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=list(BAR_KEY),
        set_={**{c: excluded[c] for c in BAR_VALUES}, "ingested_at": text("CURRENT_TIMESTAMP")},
        where=or_(*[ohlcv.c[c].is_distinct_from(excluded[c]) for c in BAR_VALUES]),
    )
    return _execute_many(conn, statement, BAR_COLUMNS, [_bar_row(b) for b in bars])


def _sqlite_insert_ticks(conn: Connection, items: list[Tick]) -> int:
    statement = sqlite_insert(ticks).on_conflict_do_nothing(index_elements=list(TICK_KEY))
    rows = [tuple(getattr(t, column) for column in TICK_COLUMNS) for t in items]
    return _execute_many(conn, statement, TICK_COLUMNS, rows)


def _execute_many(
    conn: Connection, statement: Any, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> int:
    result = conn.execute(statement, [dict(zip(columns, row, strict=True)) for row in rows])
    return max(result.rowcount, 0)
