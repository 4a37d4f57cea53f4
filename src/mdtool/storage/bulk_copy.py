"""Bulk import of a trades CSV straight into `market_data_ticks` on PostgreSQL, without Python rows.

The file's bytes are streamed into a temporary staging table with `COPY ... (FORMAT csv)` - the
database parses the CSV - and one `INSERT ... SELECT` turns the staged rows into ticks. When nothing
of the series is stored yet in the file's span (the common case: a first import), the insert goes
without `ON CONFLICT`, which costs about as much as a plain COPY into the hypertable (speculative
insertion is about 1.5x dearer); should a row collide after all (a stream writing into the span at the
same moment), a savepoint is rolled back and the insert is repeated with `ON CONFLICT DO NOTHING`.

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

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import IO

import psycopg
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import IntegrityError

from mdtool.storage.engine import database_errors
from mdtool.storage.schema import TICKS_TABLE, ticks

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

_MILLIS = f"(CASE WHEN time >= {MICROSECONDS_FROM} THEN time / 1000 ELSE time END)"

_INSERT = f"""
INSERT INTO "{TICKS_TABLE}" (exchange, symbol, "timestamp", source, trade_id, price, size, side, payload)
SELECT :exchange, :symbol, timestamptz 'epoch' + {_MILLIS} * interval '1 millisecond', :source,
       id::text, trim_scale(price::numeric), trim_scale(qty::numeric),
       CASE WHEN buyer_is_maker::boolean THEN 'sell' ELSE 'buy' END, NULL
FROM {_STAGE}
WHERE {_MILLIS} >= :from_ms
"""
_IGNORE_DUPLICATES = " ON CONFLICT DO NOTHING"


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
    progress. One transaction per file: a file is stored whole or not at all.
    """
    from_ms = -((_EPOCH - since) // timedelta(milliseconds=1))  # ceiling: no trade before `since`
    params = {"exchange": exchange, "symbol": symbol, "source": source, "from_ms": from_ms}
    with database_errors(f"cannot import trades of {symbol}"), engine.begin() as conn:
        conn.execute(text(_CREATE_STAGE))
        staged = _copy(conn, stream, header, on_rows)
        if _span_is_empty(conn, exchange, symbol, source, since, until):
            savepoint = conn.begin_nested()
            try:
                stored = int(conn.execute(text(_INSERT), params).rowcount)
            except IntegrityError:
                savepoint.rollback()
            else:
                savepoint.commit()
                return staged, stored
        stored = int(conn.execute(text(_INSERT + _IGNORE_DUPLICATES), params).rowcount)
    return staged, stored


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


def _copy(conn: Connection, stream: IO[bytes], header: bool, on_rows: Callable[[int], None] | None) -> int:
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    options = "FORMAT csv, HEADER true" if header else "FORMAT csv"
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {_STAGE} FROM STDIN ({options})") as copy:
            while block := stream.read(_BLOCK):
                copy.write(block)
                if on_rows is not None:
                    on_rows(block.count(b"\n"))
        return max(cursor.rowcount, 0)
