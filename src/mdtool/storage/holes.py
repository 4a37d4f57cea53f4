"""Stream holes that could not be filled: recorded, listed for a retry, and marked filled later.

A live stream records a hole when the venue refuses the missed trades, no longer serves them, or the
request-weight budget stays exhausted for too long, and when it stops with a fill still queued (the next
run resumes after the newest stored trade, so a hole behind it would otherwise be forgotten). The row
is keyed by where the hole starts, so recording the same hole again (a retry that failed again, or
shrank it) updates it instead of adding a second row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mdtool.sources import StreamHole
from mdtool.storage.engine import database_errors, is_postgres
from mdtool.storage.schema import stream_holes

_KEY = ("exchange", "symbol", "source", "start_time")


def record_holes(engine: Engine, holes: Sequence[StreamHole]) -> None:
    """Insert or update `holes` (idempotent); a hole recorded again is pending again (`filled_at` null)."""
    if not holes:
        return
    rows = [
        {
            "exchange": h.exchange,
            "symbol": h.symbol,
            "source": h.source,
            "start_time": h.start_time,
            "end_time": h.end_time,
            "first_trade_id": h.first_trade_id,
            "last_trade_id": h.last_trade_id,
            "reason": h.reason,
        }
        for h in holes
    ]
    insert = pg_insert(stream_holes) if is_postgres(engine) else sqlite_insert(stream_holes)
    changed = ("end_time", "first_trade_id", "last_trade_id", "reason")
    statement = insert.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={**{name: insert.excluded[name] for name in changed}, "filled_at": None},
    )
    with database_errors("cannot record stream holes"), engine.begin() as conn:
        conn.execute(statement, rows)


def unfilled_holes(
    engine: Engine, exchange: str, source: str, symbols: Sequence[str] | None = None
) -> list[StreamHole]:
    """Recorded holes not yet filled, oldest first (optionally only of `symbols`)."""
    query = select(stream_holes).where(
        stream_holes.c.exchange == exchange,
        stream_holes.c.source == source,
        stream_holes.c.filled_at.is_(None),
    )
    if symbols is not None:
        query = query.where(stream_holes.c.symbol.in_(list(symbols)))
    query = query.order_by(stream_holes.c.start_time, stream_holes.c.symbol)
    with database_errors("cannot read stream holes"), engine.connect() as conn:
        return [
            StreamHole(
                exchange=row.exchange,
                symbol=row.symbol,
                source=row.source,
                start_time=row.start_time,
                end_time=row.end_time,
                first_trade_id=row.first_trade_id,
                last_trade_id=row.last_trade_id,
                reason=row.reason,
            )
            for row in conn.execute(query)
        ]


def mark_filled(engine: Engine, hole: StreamHole, when: datetime | None = None) -> None:
    """Set `filled_at` on the recorded hole that starts where `hole` starts (no-op when none is)."""
    statement = (
        update(stream_holes)
        .where(*(stream_holes.c[name] == getattr(hole, name) for name in _KEY))
        .values(filled_at=when or datetime.now(UTC))
    )
    with database_errors("cannot mark a stream hole filled"), engine.begin() as conn:
        conn.execute(statement)


class DatabaseHoles:
    """`HoleLedger` on the database (what `mdtool stream` and `mdtool run` give a stream)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, hole: StreamHole) -> None:
        record_holes(self.engine, [hole])

    def filled(self, hole: StreamHole) -> None:
        mark_filled(self.engine, hole)

    def unfilled(self, exchange: str, source: str, symbols: Sequence[str]) -> list[StreamHole]:
        return unfilled_holes(self.engine, exchange, source, symbols)
