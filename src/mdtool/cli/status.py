"""`mdtool status`: one row per stored series, as a table on a terminal or JSON for scripts.

Heavy modules (the database) are imported when the command runs, so `--help` stays instant.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mdtool.cli.console import stdout
from mdtool.config import load_settings
from mdtool.durations import humanize, parse_duration
from mdtool.errors import MdtoolError, UsageError

if TYPE_CHECKING:
    from mdtool.storage.inventory import SeriesInventory


def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (one object per series) instead of a table.")
    ] = False,
    max_age: Annotated[
        str | None,
        typer.Option(help="Exit 1 when any series' newest data is older than this (e.g. 10m, 2h, 1d)."),
    ] = None,
) -> None:
    """Show every stored series: first and last timestamp, rows, holes, and the age of its newest data.

    Rows marked ~ are PostgreSQL's statistics estimates (free on any table size; exact on SQLite), and
    so are the hole counts derived from them. Holes: bar slots missing between the first and last bar
    that the venue did not answer as empty; trade ids missing between the first and last trade (feeds
    with sequential ids); and stream holes recorded as unfilled.

    Examples:

      mdtool status

      mdtool status --json --max-age 10m    # cron / monitoring: exit 1 when something went stale
    """
    from mdtool.migrate import ensure_schema
    from mdtool.storage.engine import create_engine
    from mdtool.storage.inventory import inventory, stale

    limit = None
    if max_age is not None:
        try:
            limit = parse_duration(max_age)
        except ValueError as error:
            raise UsageError(f"--max-age: {error}") from None
    engine = create_engine(load_settings().database_url)
    try:
        ensure_schema(engine)  # the embedded default is migrated on first use, as elsewhere
        series = inventory(engine)
    finally:
        engine.dispose()
    now = datetime.now(UTC)
    if as_json:
        print(json.dumps([item.as_json(now) for item in series], indent=2))
    elif series and stdout.is_terminal:
        stdout.print(_table(series, now))
    elif series:  # cron mail, pipes and grep: one tab-separated line per series, never wrapped
        print("\t".join(_COLUMNS))
        print("\n".join("\t".join(_cells(item, now)) for item in series))
    else:
        stdout.print("nothing stored yet")
    if limit is not None:
        late = stale(series, now, limit)
        if late:
            names = ", ".join(f"{_name(item)} ({humanize(item.age(now) or 0)})" for item in late[:5])
            more = f" and {len(late) - 5} more" if len(late) > 5 else ""
            raise MdtoolError(f"{len(late)} series older than {max_age}: {names}{more}")
        if not series:
            raise MdtoolError("nothing stored yet")


def _name(item: SeriesInventory) -> str:
    return f"{item.exchange} {item.symbol} {item.detail}"


_COLUMNS = ("exchange", "symbol", "interval/source", "first", "last", "rows", "holes", "age")


def _cells(item: SeriesInventory, now: datetime) -> list[str]:
    approx = "" if item.rows_exact else "~"
    holes = "-" if item.holes is None else f"{approx}{item.holes:,}"
    if item.open_stream_holes:
        holes += f" +{item.open_stream_holes} stream"
    return [
        item.exchange, item.symbol, item.detail, _when(item.first), _when(item.last),
        f"{approx}{item.rows:,}", holes, humanize(item.age(now) or 0.0),
    ]  # fmt: skip


def _table(series: list[SeriesInventory], now: datetime) -> Table:
    table = Table(title="stored series", title_justify="left")
    for column in _COLUMNS:
        table.add_column(column, justify="right" if column in ("rows", "holes", "age") else "left")
    for item in series:
        table.add_row(*_cells(item, now))
    if any(not item.rows_exact for item in series):
        table.caption = "~ estimated from PostgreSQL statistics"
    return table


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"
