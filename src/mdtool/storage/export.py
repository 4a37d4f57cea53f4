"""Stored bars or ticks of one series, read in bounded chunks for export.

Rows stream through a server-side cursor on PostgreSQL (`stream_results`, psycopg named cursor) and an
incremental cursor on SQLite, `chunk` rows at a time, so memory stays flat on any range. Values come
out as text ready for a file: decimals in plain notation exactly as stored (never floats, never
exponents), timestamps as ISO-8601 UTC with microseconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, Select, select

from mdtool.storage.engine import database_errors
from mdtool.storage.schema import ohlcv, ticks

BAR_COLUMNS = ("exchange", "symbol", "interval", "timestamp", "open", "high", "low", "close", "volume",
               "quote_volume", "trade_count")  # fmt: skip
TICK_COLUMNS = ("exchange", "symbol", "timestamp", "source", "trade_id", "price", "size", "side")
DECIMAL_COLUMNS = frozenset({"open", "high", "low", "close", "volume", "quote_volume", "price", "size"})

ExportRow = tuple[str | int | datetime | None, ...]


def export_query(
    exchange: str, symbol: str, interval: str | None, since: datetime, until: datetime
) -> tuple[Sequence[str], Select[tuple[object, ...]]]:
    """Columns and the ordered query of bars (`interval`) or ticks (`interval=None`) in [since, until)."""
    if interval is None:
        query = (
            select(*(ticks.c[name] for name in TICK_COLUMNS))
            .where(ticks.c.exchange == exchange, ticks.c.symbol == symbol)
            .where(ticks.c.timestamp >= since, ticks.c.timestamp < until)
            .order_by(ticks.c.timestamp, ticks.c.source, ticks.c.trade_id)
        )
        return TICK_COLUMNS, query
    query = (
        select(*(ohlcv.c[name] for name in BAR_COLUMNS))
        .where(ohlcv.c.exchange == exchange, ohlcv.c.symbol == symbol, ohlcv.c.interval == interval)
        .where(ohlcv.c.timestamp >= since, ohlcv.c.timestamp < until)
        .order_by(ohlcv.c.timestamp)
    )
    return BAR_COLUMNS, query


def read_chunks(
    engine: Engine, query: Select[tuple[object, ...]], chunk: int = 50_000
) -> Iterator[list[ExportRow]]:
    """The query's rows, `chunk` at a time, decimals as plain text; timestamps stay aware datetimes."""
    with database_errors("cannot read the stored rows"), engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk).execute(query)
        for partition in result.partitions():
            yield [tuple(_plain(value) for value in row) for row in partition]


def _plain(value: object) -> str | int | datetime | None:
    if isinstance(value, Decimal):
        return format(value, "f")
    if value is None or isinstance(value, str | int | datetime):
        return value
    return str(value)
