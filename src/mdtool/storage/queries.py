"""Read queries shared by every adapter and server: resume points, gaps, and stored history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Engine, Row, func, select

from mdtool.intervals import floor_open
from mdtool.ranges import Range, holes
from mdtool.records import Bar, Tick
from mdtool.storage.engine import database_errors
from mdtool.storage.schema import BAR_VALUES, ohlcv, ticks


def newest_bar_time(engine: Engine, exchange: str, symbol: str, interval: str) -> datetime | None:
    """Open time of the newest stored bar of a series (the resume point of cron mode)."""
    query = select(func.max(ohlcv.c.timestamp)).where(
        ohlcv.c.exchange == exchange, ohlcv.c.symbol == symbol, ohlcv.c.interval == interval
    )
    with database_errors("cannot read the newest stored bar"), engine.connect() as conn:
        value: datetime | None = conn.execute(query).scalar()
    return value


def missing_ranges(
    engine: Engine, exchange: str, symbol: str, interval: str, start: datetime, end: datetime
) -> list[Range]:
    """Half-open ranges [a, b) of bar open times in [start, end) with no stored bar.

    `start` must be on the interval's grid. The walk reads only stored open times, in order, so its cost
    is proportional to what is stored, not to the width of the range.
    """
    series = (ohlcv.c.exchange == exchange, ohlcv.c.symbol == symbol, ohlcv.c.interval == interval)
    return _unstored_slots(engine, ohlcv.c.timestamp, series, interval, start, end, on_grid=True)


def bars_between(
    engine: Engine, exchange: str, symbol: str, interval: str, start: datetime, end: datetime
) -> list[Bar]:
    """Stored bars opening in [start, end), oldest first."""
    query = (
        select(ohlcv)
        .where(
            ohlcv.c.exchange == exchange,
            ohlcv.c.symbol == symbol,
            ohlcv.c.interval == interval,
            ohlcv.c.timestamp >= start,
            ohlcv.c.timestamp < end,
        )
        .order_by(ohlcv.c.timestamp)
    )
    with database_errors("cannot read bars"), engine.connect() as conn:
        return [_bar(row) for row in conn.execute(query)]


def ticks_between(
    engine: Engine,
    exchange: str,
    symbol: str,
    start: datetime,
    end: datetime,
    source: str | None = None,
) -> list[Tick]:
    """Stored ticks with timestamps in [start, end), oldest first (optionally of one source)."""
    query = select(ticks).where(
        ticks.c.exchange == exchange,
        ticks.c.symbol == symbol,
        ticks.c.timestamp >= start,
        ticks.c.timestamp < end,
    )
    if source is not None:
        query = query.where(ticks.c.source == source)
    query = query.order_by(ticks.c.timestamp, ticks.c.trade_id)
    with database_errors("cannot read ticks"), engine.connect() as conn:
        return [_tick(row) for row in conn.execute(query)]


def newest_tick_time(engine: Engine, exchange: str, symbol: str, source: str) -> datetime | None:
    """Timestamp of the newest stored tick of one feed (the resume point of a cron-mode tick backfill)."""
    query = select(func.max(ticks.c.timestamp)).where(
        ticks.c.exchange == exchange, ticks.c.symbol == symbol, ticks.c.source == source
    )
    with database_errors("cannot read the newest stored tick"), engine.connect() as conn:
        value: datetime | None = conn.execute(query).scalar()
    return value


def missing_tick_ranges(
    engine: Engine, exchange: str, symbol: str, source: str, grid: str, start: datetime, end: datetime
) -> list[Range]:
    """Ranges of `grid` slots (e.g. whole minutes) in [start, end) holding no stored tick of one feed.

    A tick series has no bar grid, so it is judged by slot: a slot with at least one tick counts as
    stored. The walk reads the stored timestamps in order, so it costs what is stored in the range.
    """
    series = (ticks.c.exchange == exchange, ticks.c.symbol == symbol, ticks.c.source == source)
    return _unstored_slots(engine, ticks.c.timestamp, series, grid, start, end, on_grid=False)


def _unstored_slots(
    engine: Engine,
    column: ColumnElement[datetime],
    series: tuple[ColumnElement[bool], ...],
    grid: str,
    start: datetime,
    end: datetime,
    *,
    on_grid: bool,
) -> list[Range]:
    """Walk the stored times of one series in [start, end), in order, and return the `grid` slots none
    falls in; `on_grid` says the stored times are slot opens already (bars), else they are floored."""
    if end <= start:
        return []
    query = select(column).where(*series, column >= start, column < end).order_by(column)
    with database_errors("cannot look for gaps"), engine.connect() as conn:
        stored = conn.execution_options(yield_per=50_000).execute(query).scalars()
        return holes(grid, start, end, stored if on_grid else (floor_open(grid, moment) for moment in stored))


def newest_numeric_trade_id(engine: Engine, exchange: str, symbol: str, source: str) -> int | None:
    """Highest venue trade id among the newest ticks of a feed whose ids are increasing integers.

    Ids are text, so they are compared as integers here rather than in SQL (text order puts "9" after
    "10"); only the rows at the newest timestamp are read.
    """
    newest = (
        select(func.max(ticks.c.timestamp))
        .where(ticks.c.exchange == exchange, ticks.c.symbol == symbol, ticks.c.source == source)
        .scalar_subquery()
    )
    query = select(ticks.c.trade_id).where(
        ticks.c.exchange == exchange,
        ticks.c.symbol == symbol,
        ticks.c.source == source,
        ticks.c.timestamp == newest,
    )
    with database_errors("cannot read the newest trade id"), engine.connect() as conn:
        ids = [int(value) for (value,) in conn.execute(query) if value.isdigit()]
    return max(ids) if ids else None


def _bar(row: Row[tuple[object, ...]]) -> Bar:
    values = row._mapping
    return Bar(
        exchange=values["exchange"],
        symbol=values["symbol"],
        interval=values["interval"],
        timestamp=values["timestamp"],
        **{name: values[name] for name in BAR_VALUES},
    )


def _tick(row: Row[tuple[object, ...]]) -> Tick:
    values = row._mapping
    return Tick(
        exchange=values["exchange"],
        symbol=values["symbol"],
        timestamp=values["timestamp"],
        source=values["source"],
        trade_id=values["trade_id"],
        price=values["price"],
        size=values["size"],
        side=values["side"],
        payload=values["payload"],
    )
