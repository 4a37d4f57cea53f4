"""`mdtool export` as a library call: one series, a time range, to CSV or Parquet, in bounded memory.

Decimals are written as text in both formats. Parquet's decimal128 needs one precision and scale for
the whole column, and stored prices span 1e-40..1e40 (what `records` accepts), which no single
decimal128 type holds exactly; a string column keeps every value exact and is what pandas, DuckDB and
Polars cast from with one call. Timestamps are Parquet `timestamp[us, UTC]` and ISO-8601 `Z` text in CSV.

The file is written under a temporary name and renamed at the end, so an interrupted export never
leaves a truncated file that looks complete.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine

from mdtool.errors import MdtoolError, UsageError
from mdtool.intervals import validate_interval
from mdtool.storage.export import ExportRow, export_query, read_chunks

FORMATS = ("csv", "parquet")
Progress = Callable[[int, datetime], None]


@dataclass(frozen=True)
class ExportRequest:
    exchange: str
    symbol: str
    interval: str | None
    """None for ticks."""
    since: datetime
    until: datetime
    format: str
    path: Path


class _Sink(Protocol):
    def write(self, rows: list[ExportRow]) -> None: ...

    def close(self) -> None: ...


class CsvSink:
    """Header plus rows; timestamps as `2024-01-01T00:00:00.000000Z`."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self._handle = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._handle)
        self._writer.writerow(columns)

    def write(self, rows: list[ExportRow]) -> None:
        self._writer.writerows([_iso(value) for value in row] for row in rows)

    def close(self) -> None:
        self._handle.close()


class ParquetSink:
    """One row group per chunk; decimals as strings, timestamps as timestamp[us, UTC]."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        import pyarrow as pa  # imported here: every other command would pay its import time
        import pyarrow.parquet as pq

        self._pa = pa
        fields = [pa.field(name, _arrow_type(pa, name)) for name in columns]
        self._schema = pa.schema(fields)
        self._writer = pq.ParquetWriter(str(path), self._schema, compression="zstd")

    def write(self, rows: list[ExportRow]) -> None:
        pa = self._pa
        arrays = [pa.array(list(column), type=field.type) for column, field in
                  zip(zip(*rows, strict=True), self._schema, strict=True)]  # fmt: skip
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))

    def close(self) -> None:
        self._writer.close()


def _arrow_type(pa: Any, name: str) -> Any:
    if name == "timestamp":
        return pa.timestamp("us", tz="UTC")
    if name == "trade_count":
        return pa.int64()
    return pa.string()


def _iso(value: object) -> object:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def run_export(engine: Engine, request: ExportRequest, progress: Progress | None = None) -> int:
    """Write the rows of the request to its file; returns the number of rows written."""
    if request.format not in FORMATS:
        raise UsageError(f"--format must be csv or parquet, got {request.format!r}")
    if request.until <= request.since:
        raise UsageError("--until must be later than --since")
    interval = validate_interval(request.interval) if request.interval is not None else None
    columns, query = export_query(request.exchange, request.symbol, interval, request.since, request.until)
    partial = request.path.with_name(f".{request.path.name}.partial")
    try:
        sink: _Sink = CsvSink(partial, columns) if request.format == "csv" else ParquetSink(partial, columns)
    except OSError as error:
        raise MdtoolError(f"cannot write {request.path}: {error.strerror or error}") from None
    written = 0
    try:
        for rows in read_chunks(engine, query):
            sink.write(rows)
            written += len(rows)
            if progress is not None:
                position = rows[-1][columns.index("timestamp")]
                assert isinstance(position, datetime)
                progress(written, position)
        sink.close()
        os.replace(partial, request.path)
    except BaseException:
        sink.close()
        partial.unlink(missing_ok=True)
        raise
    return written
