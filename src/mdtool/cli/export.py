"""`mdtool export`: one stored series over a time range to CSV or Parquet, with a progress bar.

Heavy modules (database, pyarrow) are imported when the command runs, so `--help` stays instant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from mdtool.cli.console import stderr, stdout
from mdtool.config import load_settings
from mdtool.timestamps import parse_user_time


def export(
    source: Annotated[str, typer.Argument(help="Exchange as stored: binance, ibkr, ...")],
    symbol: Annotated[str, typer.Argument(help="Symbol as stored, e.g. BTCUSDT.")],
    interval: Annotated[str, typer.Argument(help="Bar interval (1m, 1h, 1d, ...) or `ticks`.")],
    since: Annotated[str, typer.Option(help="Start, inclusive (ISO-8601; UTC unless an offset is given).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (replaced atomically).")],
    until: Annotated[str | None, typer.Option(help="End, exclusive (same format). Default: now.")] = None,
    file_format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
) -> None:
    """Export stored bars or ticks exactly: decimals as text (CSV and Parquet string columns), UTC times.

    Memory stays flat on any range (rows stream from a server-side cursor in chunks). Parquet stores
    decimals as strings because no single decimal128 precision holds every stored value exactly; it
    stores timestamps as timestamp[us, UTC]. Tick exports leave out the raw payload column.

    Examples:

      mdtool export binance BTCUSDT 1m --since 2024-01-01 --until 2024-02-01 --format parquet -o btc.parquet

      mdtool export binance BTCUSDT ticks --since 2024-06-01T12:00 -o trades.csv
    """
    from mdtool.export import FORMATS, ExportRequest, run_export
    from mdtool.migrate import ensure_schema
    from mdtool.storage.engine import create_engine

    request = ExportRequest(
        exchange=source,
        symbol=symbol.upper(),
        interval=None if interval.lower() == "ticks" else interval,
        since=parse_user_time(since, "--since"),
        until=parse_user_time(until, "--until") if until else datetime.now(UTC),
        format=file_format.lower() if file_format.lower() in FORMATS else file_format,
        path=output,
    )
    engine = create_engine(load_settings().database_url)
    span = (request.until - request.since).total_seconds()
    bar = Progress(
        TextColumn(f"[bold]{source} {request.symbol} {interval}"), BarColumn(),
        TextColumn("{task.fields[rows]:,} rows"), TimeElapsedColumn(),
        console=stderr, disable=not stderr.is_terminal, transient=True,
    )  # fmt: skip
    try:
        ensure_schema(engine)  # the embedded default is migrated on first use, as elsewhere
        with bar:
            task = bar.add_task("export", total=span, rows=0)

            def advance(rows: int, position: datetime) -> None:
                bar.update(task, completed=(position - request.since).total_seconds(), rows=rows)

            written = run_export(engine, request, advance)
    finally:
        engine.dispose()
    if written == 0:
        stderr.print(f"warning: nothing stored for {source} {request.symbol} {interval} in that range")
    stdout.print(f"{written:,} rows written to {output} ({request.format})", highlight=False, soft_wrap=True)
