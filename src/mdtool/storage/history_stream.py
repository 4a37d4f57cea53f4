"""Historical rows for wire encoders: bars at any interval, aggregated in SQL, streamed in chunks.

A chart asks for one interval; the database may hold finer bars, or only ticks. Grouping is always the
database's work (`time_bucket` on TimescaleDB, the same arithmetic in plain SQL elsewhere): Python only
receives one row per record it sends. Rows come back as plain numbers already converted by the
database (epoch seconds, doubles), through the driver's own cursor, because building Decimals and
datetimes for rows that become doubles on the wire would cost more than the rest of the path.

Buckets are UTC and share TimescaleDB's default origin, Monday 2000-01-03 00:00 UTC: every interval
that divides a day starts on the Unix-epoch grid (1d at 00:00 UTC), 3d bars line up with Binance's 3d
bars, and 1w buckets start on Monday 00:00 UTC. Open is the first row's open, close the last row's close,
high/low the extremes, volume and trade count are summed (exactly, as decimals, before becoming a
double). A bucket that is still forming (today's daily bar) is returned with what is stored so far.

Memory stays bounded on any range: PostgreSQL rows come from a server-side cursor, SQLite rows from its
stepping cursor, `chunk` rows at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, literal, select

from mdtool.intervals import INTERVALS, MONTH, nominal_length
from mdtool.storage.engine import database_errors, is_postgres, timescaledb_installed
from mdtool.storage.schema import OHLCV_TABLE, TICKS_TABLE, ohlcv, ticks

# Marks the long read-only transactions of history answers in pg_stat_activity: they can never insert
# a tick, so the live poll's write horizon (`dtc.feed`) must not wait for them to end.
READER_APPLICATION = "mdtool history reader"
ORIGIN = 946_857_600  # 2000-01-03 00:00 UTC, a Monday: TimescaleDB's default time_bucket origin
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
_UINT32_MAX = 0xFFFFFFFF

# A bar row: (start epoch s, open, high, low, close, volume, trade count, bid volume, ask volume).
BarRow = tuple[int, float, float, float, float, float, int | None, float, float]
# A tick row: (epoch s with microseconds, AtBidOrAsk, price, size).
TickRow = tuple[float, int, float, float]


@dataclass(frozen=True, slots=True)
class BarSource:
    """Where bars of `seconds` come from: stored bars of `interval`, or trade ticks when None."""

    seconds: int
    interval: str | None

    @property
    def exact(self) -> bool:
        """Stored bars of the very interval asked for: read as they are, nothing to group."""
        return self.interval is not None and nominal_length(self.interval).total_seconds() == self.seconds


def dividing_intervals(seconds: int) -> list[str]:
    """Stored intervals whose bars fit whole into a `seconds` bucket, in order of preference.

    The interval itself comes first (the venue's own bars, nothing to group), then the finest that
    divide it: finer bars usually reach further into the present than coarser ones.
    """
    fixed = [i for i in INTERVALS if i != MONTH]
    lengths = {i: int(nominal_length(i).total_seconds()) for i in fixed}
    dividing = [i for i in fixed if seconds % lengths[i] == 0]
    return sorted(dividing, key=lambda i: (lengths[i] != seconds, lengths[i]))


def bar_source(
    engine: Engine,
    series: tuple[str, str],
    seconds: int,
    start: datetime,
    end: datetime,
    quote_sources: tuple[str, ...],
) -> BarSource | None:
    """Stored bars that divide `seconds` with a bar in [start, end); else trade ticks; else None.

    Each probe is a primary-key prefix lookup, so choosing costs a few index reads, not a scan.
    """
    exchange, symbol = series
    with database_errors("cannot look up stored history"), engine.connect() as conn:
        for interval in dividing_intervals(seconds):
            probe = select(literal(1)).where(
                ohlcv.c.exchange == exchange,
                ohlcv.c.symbol == symbol,
                ohlcv.c.interval == interval,
                ohlcv.c.timestamp >= start,
                ohlcv.c.timestamp < end,
            )
            if conn.execute(probe.limit(1)).first() is not None:
                return BarSource(seconds, interval)
        trades = select(literal(1)).where(
            ticks.c.exchange == exchange,
            ticks.c.symbol == symbol,
            ticks.c.timestamp >= start,
            ticks.c.timestamp < end,
            ticks.c.source.not_in(quote_sources),
        )
        if conn.execute(trades.limit(1)).first() is not None:
            return BarSource(seconds, None)
    return None


def bucket_start(seconds: int, moment: datetime) -> datetime:
    """Start of the bucket holding `moment` (so that the first bucket of a range is whole)."""
    epoch = int(moment.timestamp())
    floored = ORIGIN + (epoch - ORIGIN) // seconds * seconds
    return datetime.fromtimestamp(floored, moment.tzinfo)


class RowStream:
    """An open query whose rows are fetched `chunk` at a time; close it (or use `open_*` as a context)."""

    def __init__(self, connection: Any, cursor: Any) -> None:
        self._connection = connection
        self._cursor = cursor

    def fetch(self, count: int) -> list[Any]:
        """Up to `count` more rows; an empty list at the end."""
        with database_errors("cannot read history"):
            rows: list[Any] = self._cursor.fetchmany(count)
        return rows

    def close(self) -> None:
        try:
            self._cursor.close()
            self._connection.rollback()  # read-only: ends the transaction holding the cursor
        finally:
            self._connection.close()  # back to the pool


@contextmanager
def open_bars(
    engine: Engine,
    series: tuple[str, str],
    source: BarSource,
    start: datetime,
    end: datetime,
    quote_sources: tuple[str, ...],
) -> Iterator[RowStream]:
    """Stream `BarRow`s of `source.seconds` opening in [start, end), oldest first."""
    postgres = is_postgres(engine)
    if source.interval is None:
        sql = _ticks_as_bars_sql(engine, source.seconds, len(quote_sources))
        params: list[Any] = [*series, _bind(postgres, start), _bind(postgres, end), *quote_sources]
    else:
        sql = _bars_sql(engine, source)
        params = [*series, source.interval, _bind(postgres, start), _bind(postgres, end)]
    with _stream(engine, sql, params) as rows:
        yield rows


@contextmanager
def open_ticks(
    engine: Engine, series: tuple[str, str], start: datetime, end: datetime, quote_sources: tuple[str, ...]
) -> Iterator[RowStream]:
    """Stream `TickRow`s of trades in [start, end), in key order (quotes are not trades)."""
    postgres = is_postgres(engine)
    epoch = "extract(epoch FROM timestamp)::float8" if postgres else f"{_sqlite_micros('timestamp')} / 1e6"
    sql = (
        f"SELECT {epoch}, {_AT_BID_OR_ASK}, {_real(postgres, 'price')}, "
        f"{_real(postgres, 'coalesce(size, 0)')} FROM {TICKS_TABLE} "
        f"WHERE exchange = {_P} AND symbol = {_P} AND timestamp >= {_P} AND timestamp < {_P} "
        f"AND source NOT IN ({_marks(len(quote_sources))}) ORDER BY timestamp, source, trade_id"
    )
    params = [*series, _bind(postgres, start), _bind(postgres, end), *quote_sources]
    with _stream(engine, _placeholders(engine, sql), params) as rows:
        yield rows


_P = "%s"  # placeholder in the SQL text below, turned into `?` for SQLite
_AT_BID_OR_ASK = "CASE side WHEN 'buy' THEN 2 WHEN 'sell' THEN 1 ELSE 0 END"


def _bars_sql(engine: Engine, source: BarSource) -> str:
    postgres = is_postgres(engine)
    where = (
        f"FROM {OHLCV_TABLE} WHERE exchange = {_P} AND symbol = {_P} AND interval = {_P} "
        f"AND timestamp >= {_P} AND timestamp < {_P}"
    )
    if source.exact:
        epoch = "floor(extract(epoch FROM timestamp))::int8" if postgres else _sqlite_seconds("timestamp")
        columns = ", ".join(_real(postgres, c) for c in ("open", "high", "low", "close", "volume"))
        trades = _clamped(postgres, "trade_count")
        zero = _real(postgres, "0")
        sql = f"SELECT {epoch}, {columns}, {trades}, {zero}, {zero} {where} ORDER BY timestamp"
        return _placeholders(engine, sql)
    values = _Aggregates("open", "high", "low", "close", "volume", "trade_count", "0", "0")
    return _placeholders(engine, _grouped(engine, source.seconds, where, values))


def _ticks_as_bars_sql(engine: Engine, seconds: int, quotes: int) -> str:
    where = (
        f"FROM {TICKS_TABLE} WHERE exchange = {_P} AND symbol = {_P} AND timestamp >= {_P} "
        f"AND timestamp < {_P} AND source NOT IN ({_marks(quotes)})"
    )
    size = "coalesce(size, 0)"
    values = _Aggregates(
        "price",
        "price",
        "price",
        "price",
        size,
        "1",
        f"CASE WHEN side = 'sell' THEN {size} ELSE 0 END",
        f"CASE WHEN side = 'buy' THEN {size} ELSE 0 END",
    )
    return _placeholders(engine, _grouped(engine, seconds, where, values))


@dataclass(frozen=True)
class _Aggregates:
    """Per-row expressions; open/close take the first/last, high/low the extremes, the rest are summed.

    `count` is what each row adds to the trade count: its stored `trade_count` for a bar, 1 for a tick.
    """

    open: str
    high: str
    low: str
    close: str
    volume: str
    count: str
    bid_volume: str
    ask_volume: str


def _grouped(engine: Engine, seconds: int, where: str, a: _Aggregates) -> str:
    if is_postgres(engine):
        return _grouped_postgres(engine, seconds, where, a)
    return _grouped_sqlite(seconds, where, a)


def _grouped_postgres(engine: Engine, seconds: int, where: str, a: _Aggregates) -> str:
    if timescaledb_installed(engine):
        bucket = f"extract(epoch FROM time_bucket(interval '{seconds} seconds', timestamp))::int8"
        first, last = f"first({a.open}, timestamp)", f"last({a.close}, timestamp)"
    else:
        bucket = (
            f"({ORIGIN} + floor((extract(epoch FROM timestamp) - {ORIGIN}) / {seconds}) * {seconds})::int8"
        )
        first = f"(array_agg({a.open} ORDER BY timestamp))[1]"
        last = f"(array_agg({a.close} ORDER BY timestamp DESC))[1]"
    return (
        f"SELECT {bucket} AS bucket, {first}::float8, max({a.high})::float8, min({a.low})::float8, "
        f"{last}::float8, sum({a.volume})::float8, {_clamped(True, f'sum({a.count})')}, "
        f"sum({a.bid_volume})::float8, sum({a.ask_volume})::float8 {where} GROUP BY bucket ORDER BY bucket"
    )


def _grouped_sqlite(seconds: int, where: str, a: _Aggregates) -> str:
    """Window functions stand in for first()/last(); sums go through an exact decimal aggregate."""
    offset = f"({_sqlite_seconds('timestamp')} - {ORIGIN})"
    bucket = f"{ORIGIN} + {seconds} * ({offset} / {seconds} - ({offset} % {seconds} < 0))"
    whole = "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"
    window = f"OVER (PARTITION BY bucket ORDER BY timestamp {whole})"
    inner = (
        f"SELECT {bucket} AS bucket, timestamp, {a.open} AS o, {a.high} AS h, {a.low} AS l, {a.close} AS c, "
        f"{a.volume} AS v, {a.bid_volume} AS bv, {a.ask_volume} AS av, {a.count} AS n {where}"
    )
    return (
        f"SELECT bucket, CAST(min(first_o) AS REAL), max(CAST(h AS REAL)), min(CAST(l AS REAL)), "
        f"CAST(min(last_c) AS REAL), CAST(mdtool_decimal_sum(v) AS REAL), {_clamped(False, 'sum(n)')}, "
        f"CAST(mdtool_decimal_sum(bv) AS REAL), CAST(mdtool_decimal_sum(av) AS REAL) FROM ("
        f"SELECT *, first_value(o) {window} AS first_o, last_value(c) {window} AS last_c "
        f"FROM ({inner})) GROUP BY bucket ORDER BY bucket"
    )


class _DecimalSum:
    """SQLite aggregate: exact sum of decimal text (SQLite's own sum() would add binary doubles)."""

    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: Any) -> None:
        if value is not None:
            self.total += Decimal(str(value))

    def finalize(self) -> str:
        return str(self.total)


@contextmanager
def _stream(engine: Engine, sql: str, params: list[Any]) -> Iterator[RowStream]:
    with database_errors("cannot read history"):
        connection = engine.raw_connection()
    try:
        driver: Any = connection.driver_connection
        with database_errors("cannot read history"):
            if is_postgres(engine):
                driver.rollback()  # a fresh transaction, whatever the pool's ping left open
                driver.execute("SET TRANSACTION READ ONLY")
                driver.execute(f"SET LOCAL application_name = '{READER_APPLICATION}'")
                cursor = driver.cursor(name="mdtool_history", binary=True)  # server-side: bounded memory
            else:
                driver.create_aggregate("mdtool_decimal_sum", 1, _DecimalSum)
                cursor = driver.cursor()
            cursor.execute(sql, params)
    except BaseException:
        connection.close()
        raise
    stream = RowStream(connection, cursor)
    try:
        yield stream
    finally:
        stream.close()


def _bind(postgres: bool, moment: datetime) -> Any:
    """A bound timestamp: timestamptz for PostgreSQL, the stored fixed-width UTC text for SQLite."""
    return moment if postgres else moment.strftime(_SQLITE_TIME)


def _real(postgres: bool, column: str) -> str:
    return f"{column}::float8" if postgres else f"CAST({column} AS REAL)"


def _clamped(postgres: bool, count: str) -> str:
    """A trade count as NumTrades holds it: unknown is 0, and beyond uint32 it saturates."""
    if postgres:
        return f"least(coalesce({count}, 0), {_UINT32_MAX})::int8"
    return f"min(coalesce({count}, 0), {_UINT32_MAX})"


def _sqlite_seconds(column: str) -> str:
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def _sqlite_micros(column: str) -> str:
    """Whole microseconds since the epoch as an integer, so that one division gives the exact double."""
    return f"({_sqlite_seconds(column)} * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER))"


def _marks(count: int) -> str:
    return ", ".join([_P] * count)


def _placeholders(engine: Engine, sql: str) -> str:
    """psycopg takes `%s`; sqlite3 takes `?` (the `'%s'` of strftime, quoted, stays as it is)."""
    if is_postgres(engine):
        return sql
    return sql.replace(" %s", " ?").replace("(%s", "(?")
