"""The CSV inside an archive zip, as records (`Bar`, `Tick`) or as raw bytes for the bulk path.

Facts handled here, once: a file may or may not start with a header row (older files have none);
spot timestamps are milliseconds before 2025-01-01 and microseconds from then on, so the unit is
decided per value (any epoch value >= 10^14 is microseconds: in milliseconds that would be the year
5138); kline columns are those of the REST klines; trade columns are
`id, price, qty, quoteQty, time, isBuyerMaker, isBestMatch`.

A trade is stored exactly as the live stream stores it (`parse.parse_trade_event`): source `trade`,
`trade_id` the Binance id, side from `isBuyerMaker`, no payload, and the timestamp in whole
milliseconds - the stream's `T` has millisecond precision, and the timestamp is part of the key, so
keeping the archive's sub-millisecond digits would store every trade the stream also saw twice.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from mdtool.adapters.binance.parse import EXCHANGE, aggressor_side
from mdtool.errors import ExchangeError
from mdtool.records import Bar, Tick

MICROSECONDS_FROM = 10**14
"""Epoch values at or above this are microseconds (in milliseconds they would be after the year 5000)."""
PAGE = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_micros(raw: int) -> int:
    """Microseconds since the epoch of an archive timestamp in either unit."""
    return raw if raw >= MICROSECONDS_FROM else raw * 1000


def epoch_millis(raw: int) -> int:
    """Whole milliseconds (floored) of an archive timestamp in either unit, as the stream's `T`."""
    return raw // 1000 if raw >= MICROSECONDS_FROM else raw


def from_micros(micros: int) -> datetime:
    """Exact UTC datetime of a microsecond epoch value."""
    return _EPOCH + timedelta(microseconds=micros)


def is_header(first_line: bytes) -> bool:
    """Whether a CSV line is a header (its first field is not a number, as every data row's is)."""
    field = first_line.split(b",", 1)[0].strip().lstrip(b"\xef\xbb\xbf")
    return bool(field) and not field.isdigit()


@contextmanager
def open_csv(path: Path, name: str) -> Iterator[tuple[IO[bytes], bool]]:
    """The single CSV member of a zip as a binary stream, and whether it starts with a header row.

    The stream is positioned at the start of the member (header included), so the bulk path can hand
    it to COPY as is and let the database skip the header.
    """
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ExchangeError(f"archive file {name} is not a valid zip") from None
    with archive:
        members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
        if len(members) != 1:
            raise ExchangeError(f"archive file {name} holds {len(members)} CSV files, expected one")
        with archive.open(members[0]) as peek:
            header = is_header(peek.readline())
        with archive.open(members[0]) as stream:
            yield stream, header


def _rows(stream: IO[bytes], header: bool) -> Iterator[list[str]]:
    reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8", newline=""))
    if header:
        next(reader, None)
    return (row for row in reader if row)


def read_klines(path: Path, name: str, symbol: str, interval: str) -> Iterator[list[Bar]]:
    """Bars of a klines zip in pages of `PAGE` (columns as REST klines: open time, o, h, l, c, v, ...)."""
    with open_csv(path, name) as (stream, header):
        page: list[Bar] = []
        for row in _rows(stream, header):
            page.append(kline_bar(row, symbol, interval, name))
            if len(page) == PAGE:
                yield page
                page = []
        if page:
            yield page


def kline_bar(row: Sequence[Any], symbol: str, interval: str, name: str) -> Bar:
    """One klines CSV row: open time, open, high, low, close, volume, close time, quote volume, trades."""
    try:
        return Bar(
            exchange=EXCHANGE,
            symbol=symbol,
            interval=interval,
            timestamp=from_micros(epoch_micros(int(row[0]))),
            open=row[1],
            high=row[2],
            low=row[3],
            close=row[4],
            volume=row[5],
            quote_volume=row[7],
            trade_count=int(row[8]),
        )
    except (IndexError, ValueError) as exc:
        raise ExchangeError(f"archive file {name}: malformed kline row {row[:9]} ({exc})") from None


def read_trades(path: Path, name: str, symbol: str) -> Iterator[list[Tick]]:
    """Ticks of a trades zip in pages of `PAGE`, exactly as the live stream would store them."""
    with open_csv(path, name) as (stream, header):
        page: list[Tick] = []
        for row in _rows(stream, header):
            page.append(trade_tick(row, symbol, name))
            if len(page) == PAGE:
                yield page
                page = []
        if page:
            yield page


def trade_tick(row: Sequence[Any], symbol: str, name: str) -> Tick:
    """One trades CSV row: id, price, qty, quoteQty, time, isBuyerMaker, isBestMatch."""
    try:
        maker = row[5].strip().lower()
        if maker not in ("true", "false"):
            raise ValueError(f"isBuyerMaker {row[5]!r}")
        return Tick(
            exchange=EXCHANGE,
            symbol=symbol,
            timestamp=from_micros(epoch_millis(int(row[4])) * 1000),
            source="trade",
            trade_id=str(int(row[0])),
            price=row[1],
            size=row[2],
            side=aggressor_side(maker == "true"),
        )
    except (IndexError, ValueError) as exc:
        raise ExchangeError(f"archive file {name}: malformed trade row {row[:7]} ({exc})") from None
