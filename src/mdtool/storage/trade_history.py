"""What is stored of a trade series with increasing integer ids: resume point, id holes, imported files.

Venue-independent: any feed whose `trade_id` is an increasing integer (Binance `trade`) can resume
after its newest id and find holes as missing ids. Ids are text in the table, so they are compared as
integers (`CAST`), never in text order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Engine, and_, cast, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mdtool.storage.engine import database_errors, is_postgres
from mdtool.storage.schema import archive_files, ticks


@dataclass(frozen=True)
class StoredTrade:
    """The newest stored trade of a series."""

    trade_id: int
    timestamp: datetime


def newest_trade(engine: Engine, exchange: str, symbol: str, source: str) -> StoredTrade | None:
    """Highest stored id (among the newest timestamp's rows: ids grow with time) and its time."""
    series = and_(ticks.c.exchange == exchange, ticks.c.symbol == symbol, ticks.c.source == source)
    newest = select(func.max(ticks.c.timestamp)).where(series).scalar_subquery()
    query = select(ticks.c.trade_id, ticks.c.timestamp).where(series, ticks.c.timestamp == newest)
    with database_errors("cannot read the newest trade"), engine.connect() as conn:
        rows = [(int(tid), moment) for tid, moment in conn.execute(query) if str(tid).isdigit()]
    if not rows:
        return None
    trade_id, moment = max(rows)
    return StoredTrade(trade_id, moment)


def id_holes(
    engine: Engine, exchange: str, symbol: str, source: str, since: datetime
) -> list[tuple[int, int]]:
    """Runs of missing ids [first, last] between stored trades at or after `since`, ascending.

    One aggregate first (count, lowest and highest id): when the count fills the id range there is
    no hole, and the sort the window query needs is spared.
    """
    trade_id = cast(ticks.c.trade_id, BigInteger)
    series = (
        ticks.c.exchange == exchange,
        ticks.c.symbol == symbol,
        ticks.c.source == source,
        ticks.c.timestamp >= since,
    )
    summary = select(func.count(), func.min(trade_id), func.max(trade_id)).where(*series)
    with database_errors("cannot look for missing trade ids"), engine.connect() as conn:
        count, lowest, highest = conn.execute(summary).one()
    if not count or highest - lowest + 1 == count:
        return []
    ordered = (
        select(trade_id.label("id"), func.lag(trade_id).over(order_by=trade_id).label("prev"))
        .where(*series)
        .subquery()
    )
    query = (
        select(ordered.c.prev + 1, ordered.c.id - 1)
        .where(ordered.c.id > ordered.c.prev + 1)
        .order_by(ordered.c.id)
    )
    with database_errors("cannot look for missing trade ids"), engine.connect() as conn:
        return [(int(a), int(b)) for a, b in conn.execute(query)]


def imported_files(engine: Engine, exchange: str, symbol: str, dataset: str) -> dict[str, datetime]:
    """File name -> where its stored span starts, for the files of a series already imported."""
    query = select(archive_files.c.file_name, archive_files.c.covered_from).where(
        archive_files.c.exchange == exchange,
        archive_files.c.symbol == symbol,
        archive_files.c.dataset == dataset,
    )
    with database_errors("cannot read imported archive files"), engine.connect() as conn:
        return {str(row[0]): row[1] for row in conn.execute(query)}


def record_import(
    engine: Engine,
    exchange: str,
    symbol: str,
    dataset: str,
    file_name: str,
    span: tuple[datetime, datetime],
    rows: int,
    sha256: str,
) -> None:
    """Remember that `file_name` was imported over `span` (a wider earlier span is kept)."""
    values = {
        "exchange": exchange, "symbol": symbol, "dataset": dataset, "file_name": file_name,
        "covered_from": span[0], "covered_to": span[1], "rows": rows, "sha256": sha256,
    }  # fmt: skip
    insert = pg_insert(archive_files) if is_postgres(engine) else sqlite_insert(archive_files)
    least = func.least if is_postgres(engine) else func.min
    statement = insert.values(values).on_conflict_do_update(
        index_elements=["exchange", "symbol", "dataset", "file_name"],
        set_={
            "covered_from": least(insert.excluded.covered_from, archive_files.c.covered_from),
            "covered_to": insert.excluded.covered_to,
            "rows": insert.excluded.rows,
            "sha256": insert.excluded.sha256,
            "imported_at": func.current_timestamp(),
        },
    )
    with database_errors("cannot record an imported archive file"), engine.begin() as conn:
        conn.execute(statement)
