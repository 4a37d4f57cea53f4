"""Binance trade history: archive files (trades zips) and `historicalTrades` by id, as one source.

The trades backfill driver (`mdtool.trades_backfill`) asks this source for the files that cover a span,
downloads them (a missing monthly file is replaced by its days; a missing day is reported, and its
trades come over REST as an id hole), and for pages of REST trades from an id on. It hands out each
verified zip both as records (`Tick` pages, for SQLite) and as the raw CSV stream (for the database's
own CSV parser on PostgreSQL); both mean exactly the rows the live stream stores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import IO

from mdtool.adapters.binance.archive_csv import open_csv, read_trades
from mdtool.adapters.binance.archive_fetch import ArchiveClient, Downloaded
from mdtool.adapters.binance.archive_layout import MONTHLY, TRADES, ArchiveFile, Plan, days_of, plan
from mdtool.adapters.binance.parse import EXCHANGE, from_ms, kline_open_ms, parse_rest_trade, to_ms
from mdtool.adapters.binance.rest import BinanceRest
from mdtool.records import Tick

log = logging.getLogger(__name__)

REST_PAGE = 1000
SOURCE = "trade"
"""The `source` column of Binance trades, the live stream's (`parse.parse_trade_event`)."""


class BinanceTradeHistory:
    """Trades of Binance spot symbols from the archive and from `historicalTrades`."""

    exchange = EXCHANGE
    source = SOURCE
    dataset = TRADES

    def __init__(self, rest: BinanceRest, archive: ArchiveClient) -> None:
        self.rest = rest
        self.archive = archive

    @property
    def request_count(self) -> int:
        """REST requests plus archive files downloaded."""
        return self.rest.request_count + self.archive.downloads

    def resolve_symbol(self, symbol: str) -> str:
        return self.rest.resolve_symbol(symbol)

    def close(self) -> None:
        """Delete temporary files and close REST sessions (idempotent)."""
        self.archive.close()
        self.rest.close()

    def plan(self, symbol: str, start: datetime) -> Plan:
        """Archive files from `start` (or the listing day, if later) up to what may be published now."""
        now = self.rest.server_now().astimezone(UTC)
        listed = self._first_day(symbol, start, now)
        if listed is None:
            return Plan([], now)
        return plan(TRADES, symbol, max(start, listed), now, now)

    def _first_day(self, symbol: str, start: datetime, now: datetime) -> datetime | None:
        """The first UTC day at or after `start` with any trading (one `1d` klines request): spares a
        404 per day when `--since` is before the listing."""
        rows = self.rest.klines(symbol, "1d", to_ms(start) // 86_400_000 * 86_400_000, to_ms(now), 1)
        return from_ms(kline_open_ms(rows[0])) if rows else None

    def download(
        self,
        symbol: str,
        files: Iterable[ArchiveFile],
        on_bytes: Callable[[int], None] | None = None,
        on_more_files: Callable[[int], None] | None = None,
    ) -> Iterator[Downloaded]:
        """Verified downloads in time order; a missing month is replaced by its days (`on_more_files`
        hears how many more files that makes), a missing day comes out with `path=None`."""
        for got in self.archive.fetch_all(files, on_bytes):
            if got.path is None and got.file.period == MONTHLY:
                days = days_of(got.file, TRADES, symbol)
                log.info("archive: %s is missing; using its %d daily files", got.file.name, len(days))
                if on_more_files is not None:
                    on_more_files(len(days) - 1)
                yield from self.download(symbol, days, on_bytes, on_more_files)
                continue
            if got.path is None:
                log.warning("archive: %s is missing; its trades will come from REST", got.file.name)
            yield got

    def ticks(self, got: Downloaded, symbol: str) -> Iterator[list[Tick]]:
        """The trades of a verified zip as records, in pages."""
        assert got.path is not None
        return read_trades(got.path, got.file.name, symbol)

    def csv(self, got: Downloaded) -> AbstractContextManager[tuple[IO[bytes], bool]]:
        """The raw CSV of a verified zip and whether it has a header row."""
        assert got.path is not None
        return open_csv(got.path, got.file.name)

    def rest_page(self, symbol: str, from_id: int) -> list[Tick]:
        """Up to `REST_PAGE` trades with ids from `from_id` on (`historicalTrades`, weight 25)."""
        return [
            parse_rest_trade(row, symbol) for row in self.rest.historical_trades(symbol, from_id, REST_PAGE)
        ]
