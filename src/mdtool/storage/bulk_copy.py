"""Bulk import of archive CSVs (trades, klines) straight into the tables on PostgreSQL, no Python rows.

The file's bytes are streamed into a temporary staging table with `COPY ... (FORMAT csv)` - the
database parses the CSV - and SQL turns the staged rows into ticks. When nothing of the series is
stored yet in the file's span (the common case: a first import), the transformed rows are piped from
`COPY (SELECT ...) TO STDOUT` into `COPY market_data_ticks FROM STDIN` on a second connection, in
binary, block by block: TimescaleDB's COPY path batches its inserts, where `INSERT ... SELECT` goes
row by row (about 1.3x dearer) and `ON CONFLICT` adds speculative insertion (about 1.5x). Should a row
collide after all (a stream writing into the span at the same moment), the piped COPY is rolled back
whole and the rows go in with `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, as they do whenever the
span already holds rows.

The transformation in SQL is the exact equivalent of the record path (`Tick` through
`writer.write_ticks`), which SQLite and every other producer use, so both store the same rows:

* timestamp: whole milliseconds (a value >= 10^14 is microseconds and is floored to milliseconds),
  computed in integer arithmetic (`'epoch' + n * interval '1 millisecond'`), never through a float;
* price and size: `trim_scale(numeric)`, as `records.to_decimal` strips trailing zeros;
* side: `sell` when the buyer was the maker, else `buy`; a value that is not a boolean fails the
  statement (and so the file), as the record path would;
* trade id: the integer id as text; no payload.

The CSV shape is the one of the trades files of the public archives Binance and others publish:
`id, price, qty, quote_qty, time, buyer_is_maker[, best_match]`. Storage does not know which venue it
came from: the caller names the exchange, symbol and source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, select, text

from mdtool.errors import DatabaseError, RejectedDataError
from mdtool.storage.engine import database_errors, describe_error
from mdtool.storage.schema import OHLCV_TABLE, TICKS_TABLE, ohlcv, ticks

_STAGE = "mdtool_stage_trade_csv"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BLOCK = 1 << 20
MICROSECONDS_FROM = 10**14
"""Epoch values at or above this are microseconds (in milliseconds they would be after the year 5000)."""

_CREATE_STAGE = f"""
CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
    id bigint NOT NULL, price text NOT NULL, qty text NOT NULL, quote_qty text,
    time bigint NOT NULL, buyer_is_maker text NOT NULL, best_match text
) ON COMMIT DELETE ROWS
"""

_COLUMNS = 'exchange, symbol, "timestamp", source, trade_id, price, size, side, payload'
_MILLIS = f"(CASE WHEN time >= {MICROSECONDS_FROM} THEN time / 1000 ELSE time END)"
# Every output column is cast to its table type: the binary COPY format carries no type conversion.
_SELECT = f"""
SELECT {{exchange}}::text, {{symbol}}::text,
       timestamptz 'epoch' + {_MILLIS} * interval '1 millisecond', {{source}}::text,
       id::text, trim_scale(price::numeric), trim_scale(qty::numeric),
       (CASE WHEN buyer_is_maker::boolean THEN 'sell' ELSE 'buy' END)::text, NULL::jsonb
FROM {_STAGE}
WHERE {_MILLIS} >= {{from_ms}}
"""


def copy_trade_csv(
    engine: Engine,
    stream: IO[bytes],
    *,
    header: bool,
    exchange: str,
    symbol: str,
    source: str,
    since: datetime,
    until: datetime,
    on_rows: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Import one trades CSV (`header`: skip its first line) covering [since, until); only trades at
    or after `since` are kept.

    Returns (rows in the file, rows newly stored). `on_rows(n)` is called as lines are sent, for
    progress. A file is stored whole or not at all.
    """
    from_ms = -((_EPOCH - since) // timedelta(milliseconds=1))  # ceiling: no trade before `since`
    rows = sql.SQL(_SELECT).format(
        exchange=sql.Literal(exchange), symbol=sql.Literal(symbol), source=sql.Literal(source),
        from_ms=sql.Literal(from_ms),
    )  # fmt: skip
    action = f"cannot import trades of {symbol}"
    with database_errors(action), _driver_errors(action), engine.begin() as conn:
        raw = _driver(conn)
        conn.execute(text(_CREATE_STAGE))
        staged = _copy_in(raw, _STAGE, stream, header, on_rows)
        if _span_is_empty(conn, exchange, symbol, source, since, until):
            piped = _pipe(engine, conn, TICKS_TABLE, _COLUMNS, rows)
            if piped is not None:
                return staged, piped
        insert = sql.SQL("INSERT INTO {} ({}) {} ON CONFLICT DO NOTHING").format(
            sql.Identifier(TICKS_TABLE), sql.SQL(_COLUMNS), rows
        )
        with raw.cursor() as cursor:
            cursor.execute(insert)
            return staged, max(cursor.rowcount, 0)


@contextmanager
def _driver_errors(action: str) -> Iterator[None]:
    """psycopg's own errors (raised by the raw COPY and statements here) as the project's errors."""
    try:
        yield
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as error:
        raise RejectedDataError(f"{action}: {describe_error(error)}") from error
    except psycopg.Error as error:
        raise DatabaseError(f"{action}: {describe_error(error)}") from error


def _driver(conn: Connection) -> psycopg.Connection[Any]:
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


def _copy_in(
    raw: psycopg.Connection[Any],
    stage: str,
    stream: IO[bytes],
    header: bool,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """Stream the CSV into the staging table; returns how many rows it held."""
    options = "FORMAT csv, HEADER true" if header else "FORMAT csv"
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {stage} FROM STDIN ({options})") as copy:
            while block := stream.read(_BLOCK):
                copy.write(block)
                if on_rows is not None:
                    on_rows(block.count(b"\n"))
        return max(cursor.rowcount, 0)


def _pipe(engine: Engine, conn: Connection, table: str, columns: str, rows: sql.Composed) -> int | None:
    """COPY the transformed staged rows into the table on a second connection; None (and nothing
    written) when one collides with a stored row."""
    savepoint = conn.begin_nested()  # a COPY OUT cut short leaves this connection usable
    try:
        with engine.begin() as target, _driver(conn).cursor() as out, _driver(target).cursor() as into:
            statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
                sql.Identifier(table), sql.SQL(columns)
            )
            export = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(rows)
            with into.copy(statement) as sink, out.copy(export) as source:
                for block in source:
                    sink.write(block)
            copied = max(into.rowcount, 0)
    except psycopg.errors.UniqueViolation:
        savepoint.rollback()
        return None
    savepoint.commit()
    return copied


def _span_is_empty(
    conn: Connection, exchange: str, symbol: str, source: str, since: datetime, until: datetime
) -> bool:
    """Whether no tick of the series is stored in [since, until) (one probe of the primary key)."""
    query = select(ticks.c.timestamp).where(
        ticks.c.exchange == exchange,
        ticks.c.symbol == symbol,
        ticks.c.timestamp >= since,
        ticks.c.timestamp < until,
        ticks.c.source == source,
    )
    return conn.execute(query.limit(1)).first() is None


_KLINE_STAGE = "mdtool_stage_kline_csv"
_CREATE_KLINE_STAGE = f"""
CREATE TEMP TABLE IF NOT EXISTS {_KLINE_STAGE} (
    open_time bigint NOT NULL, open text NOT NULL, high text NOT NULL, low text NOT NULL,
    close text NOT NULL, volume text NOT NULL, close_time bigint, quote_volume text, trades bigint,
    taker_base text, taker_quote text, ignored text
) ON COMMIT DELETE ROWS
"""
_BAR_COLUMNS = (
    'exchange, symbol, "interval", "timestamp", open, high, low, close, volume, quote_volume, trade_count'
)
_MICROS = f"(CASE WHEN open_time >= {MICROSECONDS_FROM} THEN open_time ELSE open_time * 1000 END)"
_BAR_SELECT = f"""
SELECT {{exchange}}::text, {{symbol}}::text, {{interval}}::text,
       timestamptz 'epoch' + {_MICROS} * interval '1 microsecond',
       trim_scale(open::numeric), trim_scale(high::numeric), trim_scale(low::numeric),
       trim_scale(close::numeric), trim_scale(volume::numeric), trim_scale(quote_volume::numeric),
       trades::bigint
FROM {_KLINE_STAGE}
WHERE {_MICROS} >= {{since}} AND {_MICROS} < {{until}}
"""
_BAR_VALUES = ("open", "high", "low", "close", "volume", "quote_volume", "trade_count")
_BAR_UPSERT = (
    ' ON CONFLICT (exchange, symbol, "interval", "timestamp") DO UPDATE SET '
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _BAR_VALUES)
    + ", ingested_at = now() WHERE ("
    + ", ".join(f"{OHLCV_TABLE}.{c}" for c in _BAR_VALUES)
    + ") IS DISTINCT FROM ("
    + ", ".join(f"EXCLUDED.{c}" for c in _BAR_VALUES)
    + ")"
)


def copy_kline_csv(
    engine: Engine,
    stream: IO[bytes],
    *,
    header: bool,
    exchange: str,
    symbol: str,
    interval: str,
    since: datetime,
    until: datetime,
) -> tuple[list[datetime], int]:
    """Import the bars of one klines CSV opening in [since, until), as `writer.write_bars` would
    (insert, or update a stored bar only where a value differs).

    Returns (open times of the bars in the file's part of the span, ascending; rows inserted or
    changed). The CSV shape is the REST klines': open time, open, high, low, close, volume, close
    time, quote volume, trades, taker base, taker quote, ignore.
    """
    bounds = {"since": _micros(since), "until": _micros(until)}
    rows = sql.SQL(_BAR_SELECT).format(
        exchange=sql.Literal(exchange), symbol=sql.Literal(symbol), interval=sql.Literal(interval),
        **{name: sql.Literal(value) for name, value in bounds.items()},
    )  # fmt: skip
    action = f"cannot import {interval} bars of {symbol}"
    with database_errors(action), _driver_errors(action), engine.begin() as conn:
        raw = _driver(conn)
        conn.execute(text(_CREATE_KLINE_STAGE))
        _copy_in(raw, _KLINE_STAGE, stream, header)
        with raw.cursor() as cursor:
            cursor.execute(
                sql.SQL("SELECT {} FROM {} WHERE {} >= %(since)s AND {} < %(until)s ORDER BY 1").format(
                    sql.SQL(_MICROS), sql.Identifier(_KLINE_STAGE), sql.SQL(_MICROS), sql.SQL(_MICROS)
                ),
                bounds,
            )
            opens = [_EPOCH + timedelta(microseconds=value) for (value,) in cursor]
        if opens and _bars_span_is_empty(conn, exchange, symbol, interval, since, until):
            piped = _pipe(engine, conn, OHLCV_TABLE, _BAR_COLUMNS, rows)
            if piped is not None:
                return opens, piped
        upsert = sql.SQL("INSERT INTO {} ({}) {}" + _BAR_UPSERT).format(
            sql.Identifier(OHLCV_TABLE), sql.SQL(_BAR_COLUMNS), rows
        )
        with raw.cursor() as cursor:
            cursor.execute(upsert)
            return opens, max(cursor.rowcount, 0)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _bars_span_is_empty(
    conn: Connection, exchange: str, symbol: str, interval: str, since: datetime, until: datetime
) -> bool:
    query = select(ohlcv.c.timestamp).where(
        ohlcv.c.exchange == exchange,
        ohlcv.c.symbol == symbol,
        ohlcv.c.interval == interval,
        ohlcv.c.timestamp >= since,
        ohlcv.c.timestamp < until,
    )
    return conn.execute(query.limit(1)).first() is None
