"""The SQLite side of the writer: one `executemany` of ready-made text tuples per batch.

SQLAlchemy's per-row type processing (a `TypeDecorator` call per value and a dict per row) used to cost
two thirds of a SQLite write. Records already hold normalised decimals and UTC timestamps (their
constructors guarantee it), so each value is turned into its stored text once, with the cheapest exact
conversion (`storage/sqlite_text.py`, shared with the column types so queries find what is written),
and the tuples go straight to the driver. The statements are the upserts SQLAlchemy generated before:
ticks `ON CONFLICT DO NOTHING`; bars `DO UPDATE` only where a value differs (`IS NOT` is SQLite's
null-safe `IS DISTINCT FROM`), so an identical re-run changes nothing, not even `ingested_at`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection

from mdtool.records import Bar, Tick
from mdtool.storage.schema import BAR_KEY, BAR_VALUES, OHLCV_TABLE, TICK_KEY, TICK_VALUES, TICKS_TABLE
from mdtool.storage.sqlite_text import SMALLEST_PLAIN, decimal_text, str_is_plain, time_texts

Row = tuple[Any, ...]


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _insert(table: str, columns: Sequence[str]) -> str:
    return f'INSERT INTO "{table}" ({_names(columns)}) VALUES ({", ".join("?" * len(columns))}) '


TICK_INSERT = _insert(TICKS_TABLE, TICK_KEY + TICK_VALUES) + f"ON CONFLICT ({_names(TICK_KEY)}) DO NOTHING"
BAR_UPSERT = (
    _insert(OHLCV_TABLE, BAR_KEY + BAR_VALUES)
    + f"ON CONFLICT ({_names(BAR_KEY)}) DO UPDATE SET "
    + ", ".join(f'"{c}" = excluded."{c}"' for c in BAR_VALUES)
    + ", ingested_at = CURRENT_TIMESTAMP WHERE "
    + " OR ".join(f'"{OHLCV_TABLE}"."{c}" IS NOT excluded."{c}"' for c in BAR_VALUES)
)


def insert_ticks(conn: Connection, ticks: Sequence[Tick]) -> int:
    """Insert ticks, ignoring stored ones; returns how many were new."""
    return _execute_many(conn, TICK_INSERT, tick_rows(ticks))


def upsert_bars(conn: Connection, bars: Sequence[Bar]) -> int:
    """Upsert bars (unique within the batch); returns how many were inserted or changed."""
    return _execute_many(conn, BAR_UPSERT, bar_rows(bars))


def tick_rows(ticks: Sequence[Tick]) -> list[Row]:
    """Ticks as stored, in `TICK_KEY + TICK_VALUES` order; the payload as SQLAlchemy's JSON type
    writes it (`json.dumps`, and a missing payload as JSON `null`)."""
    times = time_texts(map(attrgetter("timestamp"), ticks))
    plain = str_is_plain(map(attrgetter("price"), ticks), map(attrgetter("size"), ticks))
    text = str if plain else decimal_text
    dumps = json.dumps
    return [
        (t.exchange, t.symbol, time, t.source, t.trade_id, text(t.price),
         None if t.size is None else text(t.size), t.side,
         "null" if t.payload is None else dumps(t.payload))
        for t, time in zip(ticks, times, strict=True)
    ]  # fmt: skip


def bar_rows(bars: Sequence[Bar]) -> list[Row]:
    """Bars as stored, in `BAR_KEY + BAR_VALUES` order.

    A bar's low bounds its open, high and close (`Bar` checks it), so the smallest low stands for all
    four prices when deciding whether `str` writes the batch's decimals plainly.
    """
    times = time_texts(map(attrgetter("timestamp"), bars))
    plain = min(map(attrgetter("low"), bars), default=SMALLEST_PLAIN) >= SMALLEST_PLAIN and str_is_plain(
        map(attrgetter("volume"), bars), map(attrgetter("quote_volume"), bars)
    )
    text = str if plain else decimal_text
    return [
        (b.exchange, b.symbol, b.interval, time, text(b.open), text(b.high), text(b.low), text(b.close),
         text(b.volume), None if b.quote_volume is None else text(b.quote_volume), b.trade_count)
        for b, time in zip(bars, times, strict=True)
    ]  # fmt: skip


def _execute_many(conn: Connection, statement: str, rows: list[Row]) -> int:
    """`exec_driver_sql` passes the tuples to `sqlite3`'s `executemany` untouched, and still turns
    driver errors into SQLAlchemy's (which `database_errors` maps to the project's)."""
    result = conn.exec_driver_sql(statement, rows)
    return max(result.rowcount, 0)
