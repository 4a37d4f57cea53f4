"""Ranges a venue confirmed empty, so that gap repair does not ask for them again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mdtool.ranges import Range
from mdtool.storage.engine import database_errors, is_postgres
from mdtool.storage.schema import empty_ranges


def record_empty_ranges(
    engine: Engine, exchange: str, symbol: str, interval: str, ranges: Sequence[Range]
) -> None:
    """Remember `ranges` as answered empty; a longer range from the same start replaces a shorter one."""
    if not ranges:
        return
    rows = [
        {"exchange": exchange, "symbol": symbol, "interval": interval, "range_start": a, "range_end": b}
        for a, b in ranges
    ]
    insert = pg_insert(empty_ranges) if is_postgres(engine) else sqlite_insert(empty_ranges)
    statement = insert.on_conflict_do_update(
        index_elements=["exchange", "symbol", "interval", "range_start"],
        set_={"range_end": func.max(insert.excluded.range_end, empty_ranges.c.range_end)}
        if not is_postgres(engine)
        else {"range_end": func.greatest(insert.excluded.range_end, empty_ranges.c.range_end)},
    )
    with database_errors("cannot record empty ranges"), engine.begin() as conn:
        conn.execute(statement, rows)


def known_empty_ranges(
    engine: Engine, exchange: str, symbol: str, interval: str, start: datetime, end: datetime
) -> list[Range]:
    """Recorded empty ranges overlapping [start, end)."""
    query = select(empty_ranges.c.range_start, empty_ranges.c.range_end).where(
        empty_ranges.c.exchange == exchange,
        empty_ranges.c.symbol == symbol,
        empty_ranges.c.interval == interval,
        empty_ranges.c.range_start < end,
        empty_ranges.c.range_end > start,
    )
    with database_errors("cannot read empty ranges"), engine.connect() as conn:
        return [(row[0], row[1]) for row in conn.execute(query)]
