"""Klines from the archive stitched to REST through the shared backfill driver, on TimescaleDB and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from mdtool.adapters.binance import ArchiveBarSource, ArchiveClient, BinanceBarSource, BinanceRest, Via
from mdtool.adapters.binance.archive_fetch import ArchiveError
from mdtool.backfill import BackfillRequest, run_backfill
from mdtool.intervals import count_bars, floor_open, next_open
from mdtool.storage.queries import bars_between
from tests.fakes.binance import FakeBinance
from tests.fakes.binance_archive import FakeArchive, ms

NOW = datetime.now(UTC)
TODAY = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC)
LENGTH = {"1m": 60_000, "15m": 900_000, "1M": 0}


@dataclass
class World:
    exchange: FakeBinance
    archive: FakeArchive

    def source(self, via: Via = Via.auto) -> ArchiveBarSource:
        rest = BinanceRest(self.exchange.base_url, timeout=5, backoff=0.01, backoff_cap=0.05)
        return ArchiveBarSource(
            BinanceBarSource(rest), ArchiveClient(self.archive.base_url, backoff=0.01), via
        )

    def run(
        self, engine: Engine, interval: str, since: datetime, via: Via = Via.auto, **kw: object
    ) -> ArchiveBarSource:
        source = self.source(via)
        try:
            run_backfill(engine, source, BackfillRequest("BTCUSDT", interval, since=since, **kw))  # type: ignore[arg-type]
        finally:
            source.close()
        return source

    def publish(self, interval: str, start: datetime, end: datetime, monthly: bool, **kw: bool) -> str:
        opens, t = [], start
        while t < end:
            opens.append(ms(t))
            t = next_open(interval, t)
        length = LENGTH[interval] or 2_592_000_000
        return self.archive.publish_klines(
            "BTCUSDT", interval, opens, length, start.date(), monthly=monthly, **kw
        )


@pytest.fixture
def world() -> Iterator[World]:
    with FakeBinance(symbols={"BTCUSDT": TODAY - timedelta(days=800)}) as exchange, FakeArchive() as archive:
        yield World(exchange, archive)


def day(n: int) -> datetime:
    return TODAY - timedelta(days=n)


def test_days_from_the_archive_today_from_rest_no_gap_no_overlap(world: World, engine: Engine) -> None:
    world.publish("1m", day(3), day(2), monthly=False, header=True)
    world.publish("1m", day(2), day(1), monthly=False, micros=False)
    world.publish("1m", day(1), day(0), monthly=False, micros=True)
    source = world.run(engine, "1m", since=day(3) + timedelta(hours=6))
    end = floor_open("1m", NOW)
    bars = bars_between(engine, "binance", "BTCUSDT", "1m", day(4), end + timedelta(minutes=5))
    assert [b.timestamp for b in bars] == [day(3) + timedelta(hours=6, minutes=i) for i in range(len(bars))]
    assert bars[-1].timestamp >= end - timedelta(minutes=2)
    assert source.archive_bars == count_bars("1m", day(3) + timedelta(hours=6), day(0))
    assert source.rest_bars == len(bars) - source.archive_bars
    assert world.archive.count(".zip") == 3
    # the archive's values, not REST's, for the archived span
    assert bars[0].open == world_value(world, day(3) + timedelta(hours=6))


def world_value(world: World, moment: datetime) -> object:
    from decimal import Decimal

    from tests.fakes.binance_archive import kline_csv

    return Decimal(kline_csv(ms(moment), 60_000, False).split(",")[1]).normalize()


def test_rerun_downloads_nothing(world: World, engine: Engine) -> None:
    world.publish("1m", day(2), day(1), monthly=False)
    world.publish("1m", day(1), day(0), monthly=False)
    world.run(engine, "1m", since=day(2))
    zips = world.archive.count(".zip")
    again = world.run(engine, "1m", since=day(2))
    assert world.archive.count(".zip") == zips
    assert again.archive_bars == 0 and again.rest_bars <= 2


def test_a_missing_day_comes_from_rest_and_a_corrupt_one_fails(world: World, engine: Engine) -> None:
    world.publish("1m", day(1), day(0), monthly=False)
    source = world.run(engine, "1m", since=day(2), until=day(0))
    assert source.missing_files == [f"BTCUSDT-1m-{day(2):%Y-%m-%d}.zip"]
    assert source.rest_bars == 1440 and source.archive_bars == 1440
    assert len(bars_between(engine, "binance", "BTCUSDT", "1m", day(2), day(0))) == 2880
    bad = world.publish("1m", day(4), day(3), monthly=False)
    world.archive.corrupt(bad)
    with pytest.raises(ArchiveError, match=f"BTCUSDT-1m-{day(4):%Y-%m-%d}"):
        world.run(engine, "1m", since=day(4), until=day(3))
    assert bars_between(engine, "binance", "BTCUSDT", "1m", day(4), day(3)) == []


def test_whole_months_from_monthly_files_and_a_missing_month_from_days(world: World, engine: Engine) -> None:
    first = (TODAY.replace(day=1) - timedelta(days=1)).replace(day=1)  # the previous month
    previous = (first - timedelta(days=1)).replace(day=1)
    world.publish("15m", previous, first, monthly=True)
    d = first
    while d < TODAY.replace(day=1):  # the previous month only as days (its monthly file is missing)
        world.publish("15m", d, d + timedelta(days=1), monthly=False)
        d += timedelta(days=1)
    source = world.run(engine, "15m", since=previous, until=TODAY.replace(day=1), via=Via.archive)
    assert source.archive_bars == count_bars("15m", previous, TODAY.replace(day=1))
    assert source.rest_bars == 0
    assert world.archive.count(".zip") == 1 + (TODAY.replace(day=1) - first).days


def test_auto_keeps_rest_where_a_file_would_not_save_a_request(world: World, engine: Engine) -> None:
    world.publish("15m", day(2), day(1), monthly=False)  # 96 bars: one klines request is cheaper
    source = world.run(engine, "15m", since=day(2), until=day(1))
    assert world.archive.count(".zip") == 0 and world.archive.count(".CHECKSUM") == 0
    assert source.rest_bars == 96


def test_monthly_bars_use_the_archives_1mo_name(world: World, engine: Engine) -> None:
    first = (TODAY.replace(day=1) - timedelta(days=1)).replace(day=1)
    world.publish("1M", first, TODAY.replace(day=1), monthly=True)
    source = world.run(engine, "1M", since=first, until=TODAY.replace(day=1), via=Via.archive)
    assert source.archive_bars == 1
    assert world.archive.requests[-1].endswith(f"/1mo/BTCUSDT-1mo-{first:%Y-%m}.zip")
