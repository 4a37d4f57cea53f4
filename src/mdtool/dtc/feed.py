"""Database reads the DTC server needs and `storage.queries` does not offer.

These return light tuples rather than `Bar`/`Tick` records: they feed a wire encoder at high rate, and
re-validating every stored row on the way out would cost more than encoding it. All functions block;
the server calls them through `asyncio.to_thread`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Engine, Float, Select, cast, func, literal, select, text, union_all

from mdtool.storage.engine import database_errors, is_postgres
from mdtool.storage.history_stream import READER_APPLICATION
from mdtool.storage.schema import ohlcv, ticks

MAX_PRICE_PLACES = 9
# Tick sources that are quotes, not trades: IB's tick-by-tick BidAsk is stored as one tick per quote
# with the bid as `price`, the bid size as `size` and the whole quote in `payload`
# (see adapters/ibkr/ticks.py). They feed bid/ask updates, never trade prints or bars.
QUOTE_SOURCES: tuple[str, ...] = ("ibkr.BidAsk",)
Series = tuple[str, str]  # (exchange, symbol)
TickKey = tuple[datetime, str, str]  # (timestamp, source, trade_id) within one series


class StoredTick(NamedTuple):
    """A polled tick; a named tuple because polls build tens of thousands of them per second."""

    key: TickKey
    ingested_at: datetime
    price: float
    size: float | None
    side: str | None
    ask: float | None = None  # quotes only: `price`/`size` are then the bid and its size
    ask_size: float | None = None

    @property
    def timestamp(self) -> datetime:
        return self.key[0]

    @property
    def is_quote(self) -> bool:
        return self.key[1] in QUOTE_SOURCES


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """What a MARKET_DATA_SNAPSHOT can say about a series; None = unknown (sent as unset)."""

    open: float | None = None
    high: float | None = None
    low: float | None = None
    volume: float | None = None
    trades: int | None = None
    last_price: float | None = None
    last_size: float | None = None
    last_time: datetime | None = None
    quote: Quote | None = None


@dataclass(frozen=True, slots=True)
class Quote:
    """The newest stored bid/ask of a series."""

    bid: float | None
    bid_size: float | None
    ask: float | None
    ask_size: float | None
    time: datetime


def series_exists(engine: Engine, exchange: str, symbol: str) -> bool:
    """Whether any bar or tick of the series is stored (a primary-key prefix lookup on each table)."""
    in_ticks = select(literal(1)).where(ticks.c.exchange == exchange, ticks.c.symbol == symbol).limit(1)
    in_bars = select(literal(1)).where(ohlcv.c.exchange == exchange, ohlcv.c.symbol == symbol).limit(1)
    with database_errors("cannot look up a series"), engine.connect() as conn:
        return conn.execute(in_ticks).first() is not None or conn.execute(in_bars).first() is not None


def exchanges_of(engine: Engine, symbol: str) -> list[str]:
    """Exchanges that store `symbol`, for clients that leave the Exchange field empty."""
    query = union_all(
        select(ticks.c.exchange).where(ticks.c.symbol == symbol).distinct(),
        select(ohlcv.c.exchange).where(ohlcv.c.symbol == symbol).distinct(),
    )
    with database_errors("cannot look up a symbol"), engine.connect() as conn:
        return sorted({row[0] for row in conn.execute(query)})


def price_places(engine: Engine, exchange: str, symbol: str, sample: int = 200) -> int:
    """Decimal places of the recent prices, to tell the client how to display and round them."""
    recent_ticks = (
        select(ticks.c.price)
        .where(ticks.c.exchange == exchange, ticks.c.symbol == symbol)
        .order_by(ticks.c.timestamp.desc())
        .limit(sample)
    )
    recent_bars = (
        select(ohlcv.c.close)
        .where(ohlcv.c.exchange == exchange, ohlcv.c.symbol == symbol)
        .order_by(ohlcv.c.timestamp.desc())
        .limit(sample)
    )
    with database_errors("cannot read recent prices"), engine.connect() as conn:
        prices = [row[0] for row in conn.execute(recent_ticks)] + [
            row[0] for row in conn.execute(recent_bars)
        ]
    places = [-exponent for p in prices if isinstance(exponent := p.as_tuple().exponent, int)]
    return min(max([0, *places]), MAX_PRICE_PLACES)


def session_summary(engine: Engine, exchange: str, symbol: str, session_start: datetime) -> SessionSummary:
    """Today's session from the stored trades, the last trade (or bar close), and the last quote."""
    series = (ticks.c.exchange == exchange, ticks.c.symbol == symbol, ticks.c.source.not_in(QUOTE_SOURCES))
    price, size = cast(ticks.c.price, Float), cast(ticks.c.size, Float)
    today = (*series, ticks.c.timestamp >= session_start)
    aggregate = select(func.max(price), func.min(price), func.sum(size), func.count()).where(*today)
    first = select(ticks.c.price).where(*today).order_by(ticks.c.timestamp, ticks.c.trade_id).limit(1)
    last = (
        select(ticks.c.price, ticks.c.size, ticks.c.timestamp)
        .where(*series)
        .order_by(ticks.c.timestamp.desc(), ticks.c.trade_id.desc())
        .limit(1)
    )
    last_bar = (
        select(ohlcv.c.close, ohlcv.c.timestamp)
        .where(ohlcv.c.exchange == exchange, ohlcv.c.symbol == symbol)
        .order_by(ohlcv.c.timestamp.desc())
        .limit(1)
    )
    with database_errors("cannot read the market data snapshot"), engine.connect() as conn:
        high, low, volume, count = conn.execute(aggregate).one()
        opening = conn.execute(first).scalar()
        last_tick = conn.execute(last).first()
        bar = conn.execute(last_bar).first() if last_tick is None else None
        quote = conn.execute(_last_quote(exchange, symbol)).first()
    summary = SessionSummary(
        open=_float(opening),
        high=_float(high),
        low=_float(low),
        volume=_float(volume) if count else None,
        trades=int(count) if count else None,
        quote=Quote(quote[0], quote[1], quote[2], quote[3], quote[4]) if quote is not None else None,
    )
    if last_tick is not None:
        return _with_last(summary, last_tick[0], last_tick[1], last_tick[2])
    if bar is not None:
        return _with_last(summary, bar[0], None, bar[1])
    return summary


def _last_quote(exchange: str, symbol: str) -> Select[Any]:
    return (
        select(
            cast(ticks.c.price, Float),
            cast(ticks.c.size, Float),
            *_ask_columns(),
            ticks.c.timestamp,
        )
        .where(ticks.c.exchange == exchange, ticks.c.symbol == symbol, ticks.c.source.in_(QUOTE_SOURCES))
        .order_by(ticks.c.timestamp.desc(), ticks.c.trade_id.desc())
        .limit(1)
    )


def _ask_columns() -> tuple[ColumnElement[float], ColumnElement[float]]:
    """The ask side of a stored quote, from its payload (NULL for trades)."""
    return (
        cast(ticks.c.payload["ask"].as_string(), Float),
        cast(ticks.c.payload["ask_size"].as_string(), Float),
    )


def newest_time(engine: Engine, series: Series, interval: str | None) -> datetime | None:
    """Time of the newest stored bar of `interval`, or of the newest tick when `interval` is None."""
    if interval is None:
        column = ticks.c.timestamp
        where = [ticks.c.exchange == series[0], ticks.c.symbol == series[1]]
    else:
        column = ohlcv.c.timestamp
        where = [ohlcv.c.exchange == series[0], ohlcv.c.symbol == series[1], ohlcv.c.interval == interval]
    with database_errors("cannot read the newest record"), engine.connect() as conn:
        value: datetime | None = conn.execute(select(func.max(column)).where(*where)).scalar()
    return value


def newest_ingested(engine: Engine, exchange: str, symbol: str) -> datetime | None:
    query = select(func.max(ticks.c.ingested_at)).where(
        ticks.c.exchange == exchange, ticks.c.symbol == symbol
    )
    with database_errors("cannot read the newest tick"), engine.connect() as conn:
        value: datetime | None = conn.execute(query).scalar()
    return value


@dataclass(frozen=True, slots=True)
class TickPoll:
    """New rows, and the write horizon: every row not yet visible will have `ingested_at >= horizon`.

    `horizon` is None where the database cannot tell (SQLite, or a PostgreSQL role that may not see
    other sessions' transactions); the caller then falls back to a fixed overlap.
    """

    rows: list[StoredTick]
    horizon: datetime | None


# `ingested_at` defaults to now(), the writing transaction's start: the oldest open transaction of any
# other client bounds what may still appear. Read before the ticks, so nothing slips between the two.
# History answers hold a read-only transaction for the whole download; they write nothing, so they are
# left out (otherwise every poll would re-read everything stored since a long download began).
_WRITE_HORIZON = text(
    "SELECT LEAST(now(), min(xact_start) FILTER (WHERE state <> 'idle' "
    "AND application_name IS DISTINCT FROM :reader)), bool_or(state IS NULL) "
    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND backend_type = 'client backend'"
).bindparams(reader=READER_APPLICATION)


def ticks_ingested_since(engine: Engine, exchange: str, symbol: str, since: datetime | None) -> TickPoll:
    """Ticks of a series stored at or after `since` (all when None), in event-time order."""
    query = select(
        ticks.c.timestamp,
        ticks.c.source,
        ticks.c.trade_id,
        ticks.c.ingested_at,
        cast(ticks.c.price, Float),  # the wire carries doubles: skip exact-decimal decoding at high rates
        cast(ticks.c.size, Float),
        ticks.c.side,
        *_ask_columns(),
    ).where(ticks.c.exchange == exchange, ticks.c.symbol == symbol)
    if since is not None:
        query = query.where(ticks.c.ingested_at >= since)
    query = query.order_by(ticks.c.timestamp, ticks.c.source, ticks.c.trade_id)
    horizon: datetime | None = None
    with database_errors("cannot poll new ticks"), engine.connect() as conn:
        if is_postgres(engine):
            oldest, hidden = conn.execute(_WRITE_HORIZON).one()
            horizon = None if hidden else oldest.astimezone(UTC)
        rows = [
            StoredTick((r[0], r[1], r[2]), r[3], r[4], r[5], r[6], r[7], r[8])
            for r in conn.execute(query).all()
        ]
    return TickPoll(rows, horizon)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _with_last(summary: SessionSummary, price: Any, size: Any, moment: datetime) -> SessionSummary:
    return replace(summary, last_price=_float(price), last_size=_float(size), last_time=moment)
