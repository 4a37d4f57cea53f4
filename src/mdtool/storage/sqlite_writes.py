"""The SQLite side of the writer: rows of ready-made text, many rows to a statement.

SQLAlchemy's per-row type processing (a `TypeDecorator` call per value and a dict per row) used to cost
two thirds of a SQLite write. Records already hold normalised decimals and UTC timestamps (their
constructors guarantee it), so each value is turned into its stored text once, with the cheapest exact
conversion (`storage/sqlite_text.py`, shared with the column types so queries find what is written).
The statements are the upserts SQLAlchemy generated before: ticks `ON CONFLICT DO NOTHING`; bars
`DO UPDATE` only where a value differs (`IS NOT` is SQLite's null-safe `IS DISTINCT FROM`), so an
identical re-run changes nothing, not even `ingested_at`.

Each statement carries `ROWS_PER_STATEMENT` rows (`INSERT ... VALUES (...), (...), ...`): SQLite then
runs one statement step and one reset for a hundred rows instead of one each, which takes its own cost
per row from about 8-9 us to about 5 (`bench/ingest.py` prints both ways side by side). The statement
means the same as a row at a time: rows are inserted in order, and a key met twice in one statement
conflicts with its first row exactly as it would with a stored one. A batch's last few rows, fewer
than a statement holds, go through `executemany` of the one-row statement, so only one long
statement per table sits in the driver's statement cache. Rows are built as they are sent (a
generator, sliced a statement at a time), so a batch's rows never exist all at once and each row's
texts are bound while they are still in the CPU cache. `str()` writes a normalised decimal exactly
as `decimal_text` does unless the value is below 1e-6 (exponent form), so every text is checked for
the exponent with one `in`, and only such a row is rebuilt with `decimal_text`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from decimal import getcontext
from itertools import islice
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, exc

from mdtool.records import Bar, Tick
from mdtool.storage.schema import BAR_KEY, BAR_VALUES, OHLCV_TABLE, TICK_KEY, TICK_VALUES, TICKS_TABLE
from mdtool.storage.sqlite_text import decimal_text, iter_time_texts

Row = tuple[Any, ...]
ROWS_PER_STATEMENT = 100
"""Rows sent in one statement: 50 to 200 measured alike (`bench/ingest.py`), 400 slower; a hundred
keeps the statement short to prepare and well inside SQLite's limit on bound values."""


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _insert(table: str, columns: Sequence[str], conflict: str, rows: int = 1) -> str:
    values = ", ".join([f"({', '.join('?' * len(columns))})"] * rows)
    return f'INSERT INTO "{table}" ({_names(columns)}) VALUES {values} {conflict}'


_TICK_CONFLICT = f"ON CONFLICT ({_names(TICK_KEY)}) DO NOTHING"
_BAR_CONFLICT = (
    f"ON CONFLICT ({_names(BAR_KEY)}) DO UPDATE SET "
    + ", ".join(f'"{c}" = excluded."{c}"' for c in BAR_VALUES)
    + ", ingested_at = CURRENT_TIMESTAMP WHERE "
    + " OR ".join(f'"{OHLCV_TABLE}"."{c}" IS NOT excluded."{c}"' for c in BAR_VALUES)
)
TICK_INSERT = _insert(TICKS_TABLE, TICK_KEY + TICK_VALUES, _TICK_CONFLICT)
BAR_UPSERT = _insert(OHLCV_TABLE, BAR_KEY + BAR_VALUES, _BAR_CONFLICT)
_timestamp = attrgetter("timestamp")


def insert_ticks(conn: Connection, ticks: Sequence[Tick]) -> int:
    """Insert ticks, ignoring stored ones; returns how many were new."""
    return _execute_rows(conn, TICKS_TABLE, TICK_KEY + TICK_VALUES, _TICK_CONFLICT, tick_rows(ticks))


def upsert_bars(conn: Connection, bars: Sequence[Bar]) -> int:
    """Upsert bars (unique within the batch); returns how many were inserted or changed."""
    return _execute_rows(conn, OHLCV_TABLE, BAR_KEY + BAR_VALUES, _BAR_CONFLICT, bar_rows(bars))


def tick_rows(ticks: Sequence[Tick]) -> Iterator[Row]:
    """Ticks as stored, in `TICK_KEY + TICK_VALUES` order; the payload as SQLAlchemy's JSON type
    writes it (`json.dumps`, and a missing payload as JSON `null`)."""
    if getcontext().capitals != 1:  # str() would write an exponent as `e`: take the general path
        yield from map(_exact_tick_row, ticks, iter_time_texts(map(_timestamp, ticks)))
        return
    dumps = json.dumps
    for t, time in zip(ticks, iter_time_texts(map(_timestamp, ticks)), strict=True):
        size, payload = t.size, t.payload
        row = (t.exchange, t.symbol, time, t.source, t.trade_id, price := str(t.price),
               size_text := None if size is None else str(size), t.side,
               "null" if payload is None else dumps(payload))  # fmt: skip
        if "E" in price or (size_text is not None and "E" in size_text):
            row = _exact_tick_row(t, time)
        yield row


def bar_rows(bars: Sequence[Bar]) -> Iterator[Row]:
    """Bars as stored, in `BAR_KEY + BAR_VALUES` order."""
    if getcontext().capitals != 1:  # str() would write an exponent as `e`: take the general path
        yield from map(_exact_bar_row, bars, iter_time_texts(map(_timestamp, bars)))
        return
    for b, time in zip(bars, iter_time_texts(map(_timestamp, bars)), strict=True):
        quote = b.quote_volume
        row = (b.exchange, b.symbol, b.interval, time, open_ := str(b.open), high := str(b.high),
               low := str(b.low), close := str(b.close), volume := str(b.volume),
               quote_text := None if quote is None else str(quote), b.trade_count)  # fmt: skip
        if (
            "E" in open_ or "E" in high or "E" in low or "E" in close or "E" in volume
            or (quote_text is not None and "E" in quote_text)
        ):  # fmt: skip
            row = _exact_bar_row(b, time)
        yield row


def _exact_tick_row(t: Tick, time: str) -> Row:
    text = decimal_text
    return (t.exchange, t.symbol, time, t.source, t.trade_id, text(t.price),
            None if t.size is None else text(t.size), t.side,
            "null" if t.payload is None else json.dumps(t.payload))  # fmt: skip


def _exact_bar_row(b: Bar, time: str) -> Row:
    text = decimal_text
    return (b.exchange, b.symbol, b.interval, time, text(b.open), text(b.high), text(b.low),
            text(b.close), text(b.volume), None if b.quote_volume is None else text(b.quote_volume),
            b.trade_count)  # fmt: skip


def _execute_rows(
    conn: Connection, table: str, columns: Sequence[str], conflict: str, rows: Iterator[Row]
) -> int:
    """Send the rows `ROWS_PER_STATEMENT` to a statement, the rest one per row, on the transaction's
    own `sqlite3` connection; returns how many rows were inserted or changed. The driver's errors
    become SQLAlchemy's, as `exec_driver_sql` would raise them (and `database_errors` maps them to
    the project's)."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    bound_values = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per_statement = max(1, min(ROWS_PER_STATEMENT, bound_values // len(columns)))
    statement, full = _insert(table, columns, conflict, per_statement), per_statement * len(columns)
    changed = 0
    try:
        while True:
            values: list[Any] = []
            for row in islice(rows, per_statement):
                values += row  # flattened as built: cheaper than chaining the rows afterwards
            if len(values) < full:
                break
            changed += driver.execute(statement, values).rowcount
        if values:
            statement = _insert(table, columns, conflict)
            width = len(columns)
            rest = [values[i : i + width] for i in range(0, len(values), width)]
            changed += driver.executemany(statement, rest).rowcount
    except sqlite3.Error as error:
        raise exc.DBAPIError.instance(statement, None, error, sqlite3.Error) from error
    return changed
