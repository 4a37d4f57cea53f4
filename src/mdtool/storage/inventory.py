"""What is stored, per series, read from index endpoints so that it answers in seconds on any size.

Series are enumerated with a loose index scan (a recursive CTE that jumps from one primary-key prefix
to the next, touching one index entry per series instead of every row), and each series' first and last
timestamps are index endpoint probes. Row counts are exact (primary-key index range scans) up to a
budget of rows per call; past it, PostgreSQL's series come from the planner's statistics (per-chunk
`pg_statistic` on TimescaleDB, refreshed by autovacuum's ANALYZE): approximate, flagged as such, and
free, since counting 25M rows exactly would take longer than the whole command may. SQLite, the small
embedded case, always counts exactly.

Holes come from bookkeeping rather than from scanning rows: missing bar slots between the first and
last bar, minus the spans the venue answered empty (`market_data_empty_ranges`); for trade feeds whose
ids are sequential (Binance `trade`), ids missing between the first and last trade; and stream holes
recorded as unfilled (`market_data_stream_holes`). Both slot and id holes are computed from the row
count, so they are approximate exactly when the count is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, text

from mdtool.intervals import count_bars, next_open
from mdtool.storage.engine import database_errors, is_postgres
from mdtool.storage.estimates import StatisticsEstimator
from mdtool.storage.schema import (
    EMPTY_RANGES_TABLE,
    OHLCV_TABLE,
    STREAM_HOLES_TABLE,
    TICKS_TABLE,
)
from mdtool.storage.types import UTCDateTime

SEQUENTIAL_ID_SOURCES = frozenset({"trade"})
"""Tick sources whose trade ids are consecutive integers per symbol (Binance raw trades)."""
_SOURCE_SAMPLE = 1000

_BAR_SERIES_PG = f"""
WITH RECURSIVE series AS (
    (SELECT exchange, symbol, "interval" FROM {OHLCV_TABLE} ORDER BY exchange, symbol, "interval" LIMIT 1)
    UNION ALL
    SELECT nxt.exchange, nxt.symbol, nxt."interval" FROM series CROSS JOIN LATERAL (
        SELECT t.exchange, t.symbol, t."interval" FROM {OHLCV_TABLE} t
        WHERE (t.exchange, t.symbol, t."interval") > (series.exchange, series.symbol, series."interval")
        ORDER BY t.exchange, t.symbol, t."interval" LIMIT 1
    ) AS nxt
)
SELECT s.exchange, s.symbol, s."interval",
    (SELECT min(t."timestamp") FROM {OHLCV_TABLE} t
     WHERE t.exchange = s.exchange AND t.symbol = s.symbol AND t."interval" = s."interval") AS first,
    (SELECT max(t."timestamp") FROM {OHLCV_TABLE} t
     WHERE t.exchange = s.exchange AND t.symbol = s.symbol AND t."interval" = s."interval") AS last
FROM series s
"""

_BAR_SERIES_SQLITE = f"""
SELECT exchange, symbol, "interval", min("timestamp"), max("timestamp") FROM {OHLCV_TABLE}
GROUP BY exchange, symbol, "interval" ORDER BY exchange, symbol, "interval"
"""

_TICK_SYMBOLS_PG = f"""
WITH RECURSIVE series AS (
    (SELECT exchange, symbol FROM {TICKS_TABLE} ORDER BY exchange, symbol LIMIT 1)
    UNION ALL
    SELECT nxt.exchange, nxt.symbol FROM series CROSS JOIN LATERAL (
        SELECT t.exchange, t.symbol FROM {TICKS_TABLE} t
        WHERE (t.exchange, t.symbol) > (series.exchange, series.symbol)
        ORDER BY t.exchange, t.symbol LIMIT 1
    ) AS nxt
)
SELECT s.exchange, s.symbol, src.source,
    (SELECT t."timestamp" FROM {TICKS_TABLE} t
     WHERE t.exchange = s.exchange AND t.symbol = s.symbol AND t.source = src.source
     ORDER BY t."timestamp" LIMIT 1) AS first,
    (SELECT t."timestamp" FROM {TICKS_TABLE} t
     WHERE t.exchange = s.exchange AND t.symbol = s.symbol AND t.source = src.source
     ORDER BY t."timestamp" DESC LIMIT 1) AS last
FROM series s CROSS JOIN LATERAL (
    SELECT DISTINCT e.source FROM (
        (SELECT t.source FROM {TICKS_TABLE} t WHERE t.exchange = s.exchange AND t.symbol = s.symbol
         ORDER BY t."timestamp" DESC LIMIT {_SOURCE_SAMPLE})
        UNION ALL
        (SELECT t.source FROM {TICKS_TABLE} t WHERE t.exchange = s.exchange AND t.symbol = s.symbol
         ORDER BY t."timestamp" LIMIT {_SOURCE_SAMPLE})
    ) AS e
) AS src
"""

_TICK_SERIES_SQLITE = f"""
SELECT exchange, symbol, source, min("timestamp"), max("timestamp") FROM {TICKS_TABLE}
GROUP BY exchange, symbol, source ORDER BY exchange, symbol, source
"""

_IDS_AT = f"""
SELECT trade_id FROM {TICKS_TABLE}
WHERE exchange = :exchange AND symbol = :symbol AND source = :source AND "timestamp" = :at
"""


@dataclass(frozen=True)
class SeriesInventory:
    """One stored series: bars of an interval, or ticks of a source."""

    kind: str
    """`bars` or `ticks`."""
    exchange: str
    symbol: str
    detail: str
    """The interval (bars) or the tick source (ticks)."""
    first: datetime | None
    last: datetime | None
    rows: int
    rows_exact: bool
    holes: int | None
    """Missing bar slots not known to be empty, or missing sequential trade ids; None if not knowable."""
    open_stream_holes: int = 0

    def as_json(self, now: datetime) -> dict[str, object]:
        return {
            "kind": self.kind,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "interval" if self.kind == "bars" else "source": self.detail,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "rows": self.rows,
            "rows_exact": self.rows_exact,
            "holes": self.holes,
            "open_stream_holes": self.open_stream_holes,
            "age_seconds": self.age(now),
        }

    def age(self, now: datetime) -> float | None:
        """Seconds since the newest data (for bars: since the newest bar closed)."""
        if self.last is None:
            return None
        newest = next_open(self.detail, self.last) if self.kind == "bars" else self.last
        return max((now - newest).total_seconds(), 0.0)


class _Counter:
    """Row counts within a budget: exact while the rows counted so far stay under `budget`, else the
    planner's estimate. Small series (and SQLite, the small embedded case) get exact counts and exact
    holes; the big ones cost nothing."""

    def __init__(self, conn: Connection, table: str, columns: Sequence[str], budget: int) -> None:
        self._conn = conn
        self._table = table
        self._estimator = StatisticsEstimator(conn, table, columns) if is_postgres(conn.engine) else None
        self.budget = budget

    def count(self, where: dict[str, str]) -> tuple[int, bool]:
        table = self._table
        condition = " AND ".join(f'"{column}" = :{column}' for column in where)
        if self._estimator is not None:
            estimate = self._estimator.estimate(where)
            if estimate > self.budget:
                return estimate, False
        exact = int(
            self._conn.execute(text(f"SELECT count(*) FROM {table} WHERE {condition}"), where).scalar_one()
        )
        self.budget -= exact
        return exact, True


EXACT_COUNT_BUDGET = 500_000
"""Rows `status` counts exactly on PostgreSQL before it switches to estimates (about 0.2 s of index scans)."""


def inventory(engine: Engine, exact_budget: int = EXACT_COUNT_BUDGET) -> list[SeriesInventory]:
    """Every stored series, bars first, each sorted by exchange, symbol, interval/source."""
    with database_errors("cannot read what is stored"), engine.connect() as conn:
        budget = exact_budget if is_postgres(engine) else 2**62
        bars = _bars(conn, _Counter(conn, OHLCV_TABLE, ("exchange", "symbol", "interval"), budget))
        spent = sum(item.rows for item in bars if item.rows_exact)
        ticks = _ticks(conn, _Counter(conn, TICKS_TABLE, ("exchange", "symbol", "source"), budget - spent))
        return [*bars, *ticks]


def _bars(conn: Connection, counter: _Counter) -> list[SeriesInventory]:
    postgres = is_postgres(conn.engine)
    if postgres:
        rows = conn.execute(text(_BAR_SERIES_PG)).all()
    else:
        rows = conn.execute(text(_BAR_SERIES_SQLITE)).all()
    empties = _empty_ranges(conn)
    found = []
    for exchange, symbol, interval, first_raw, last_raw in rows:
        first, last = _time(conn, first_raw), _time(conn, last_raw)
        where = {"exchange": exchange, "symbol": symbol, "interval": interval}
        count, exact = counter.count(where)
        holes = None
        if first is not None and last is not None:
            slots = count_bars(interval, first, next_open(interval, last))
            known_empty = sum(
                count_bars(interval, max(a, first), min(b, last))
                for a, b in empties.get((exchange, symbol, interval), [])
                if a < last and b > first
            )
            holes = max(slots - count - known_empty, 0)
        found.append(SeriesInventory("bars", exchange, symbol, interval, first, last, count, exact, holes))
    return found


def _ticks(conn: Connection, counter: _Counter) -> list[SeriesInventory]:
    query = _TICK_SYMBOLS_PG if is_postgres(conn.engine) else _TICK_SERIES_SQLITE
    rows = sorted(conn.execute(text(query)).all(), key=lambda row: (row[0], row[1], row[2]))
    open_holes = _open_stream_holes(conn)
    found = []
    for exchange, symbol, source, first_raw, last_raw in rows:
        where = {"exchange": exchange, "symbol": symbol, "source": source}
        first, last = _time(conn, first_raw), _time(conn, last_raw)
        count, exact = counter.count(where)
        holes = None
        if source in SEQUENTIAL_ID_SOURCES and first is not None and last is not None:
            low, high = _ids(conn, where, first_raw, False), _ids(conn, where, last_raw, True)
            if low is not None and high is not None and high >= low:
                holes = max(high - low + 1 - count, 0)
        found.append(
            SeriesInventory(
                "ticks", exchange, symbol, source, first, last, count, exact, holes,
                open_holes.get((exchange, symbol, source), 0),
            )
        )  # fmt: skip
    return found


def _time(conn: Connection, value: object) -> datetime | None:
    """Database value to aware UTC (SQLite returns the stored text from raw SQL)."""
    if value is None:
        return None
    result: datetime | None = UTCDateTime().process_result_value(value, conn.dialect)
    return result


def _ids(conn: Connection, where: dict[str, str], at: object, highest: bool) -> int | None:
    """The lowest (or highest) numeric trade id among the rows at one timestamp."""
    ids = [int(v) for (v,) in conn.execute(text(_IDS_AT), {**where, "at": at}) if str(v).isdigit()]
    if not ids:
        return None
    return max(ids) if highest else min(ids)


def _empty_ranges(conn: Connection) -> dict[tuple[str, str, str], list[tuple[datetime, datetime]]]:
    spans: dict[tuple[str, str, str], list[tuple[datetime, datetime]]] = {}
    query = text(f'SELECT exchange, symbol, "interval", range_start, range_end FROM {EMPTY_RANGES_TABLE}')
    for exchange, symbol, interval, start, end in conn.execute(query):
        first, last = _time(conn, start), _time(conn, end)
        if first is not None and last is not None:
            spans.setdefault((exchange, symbol, interval), []).append((first, last))
    return spans


def _open_stream_holes(conn: Connection) -> dict[tuple[str, str, str], int]:
    query = text(
        f"SELECT exchange, symbol, source, count(*) FROM {STREAM_HOLES_TABLE} "
        "WHERE filled_at IS NULL GROUP BY exchange, symbol, source"
    )
    return {(e, s, src): int(n) for e, s, src, n in conn.execute(query)}


def stale(series: Iterable[SeriesInventory], now: datetime, max_age: float) -> list[SeriesInventory]:
    """Series whose newest data is older than `max_age` seconds."""
    return [item for item in series if (item.age(now) or 0.0) > max_age]
