"""The trades backfill driver against a fake archive and a fake exchange, on TimescaleDB and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from mdtool.adapters.binance import ArchiveClient, BinanceRest, BinanceTradeHistory, Via
from mdtool.adapters.binance.archive_fetch import ArchiveError
from mdtool.adapters.binance.parse import parse_trade_event
from mdtool.errors import UsageError
from mdtool.records import Tick
from mdtool.storage.queries import ticks_between
from mdtool.storage.writer import write_ticks
from mdtool.trades_backfill import TradesRequest, run_trades_backfill
from tests.fakes.binance_archive import ArchiveBackedBinance, ArchiveTrade, FakeArchive, make_trades, ms

NOW = datetime.now(UTC)
TODAY = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC)
SINCE = TODAY - timedelta(days=45)
END = datetime(2100, 1, 1, tzinfo=UTC)


def month_start(day: datetime) -> datetime:
    return day.replace(day=1)


def next_month(day: datetime) -> datetime:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass
class World:
    exchange: ArchiveBackedBinance
    archive: FakeArchive
    trades: list[ArchiveTrade]
    daily: list[str]
    monthly: list[str]

    def history(self) -> BinanceTradeHistory:
        rest = BinanceRest(self.exchange.base_url, timeout=5, backoff=0.01, backoff_cap=0.05)
        return BinanceTradeHistory(rest, ArchiveClient(self.archive.base_url, workers=3, backoff=0.01))

    def run(self, engine: Engine, **request: object) -> object:
        history = self.history()
        try:
            return run_trades_backfill(engine, history, TradesRequest("BTCUSDT", **request))  # type: ignore[arg-type]
        finally:
            history.close()

    def in_span(self, start: datetime, end: datetime) -> list[ArchiveTrade]:
        return [t for t in self.trades if ms(start) <= t.time < ms(end)]


def expected(trades: list[ArchiveTrade]) -> list[Tick]:
    ticks = [parse_trade_event(t.event("BTCUSDT")) for t in trades]
    return sorted(ticks, key=lambda t: (t.timestamp, t.trade_id))


def stored(engine: Engine, start: datetime = SINCE) -> list[Tick]:
    return ticks_between(engine, "binance", "BTCUSDT", start, END, source="trade")


@pytest.fixture
def world() -> Iterator[World]:
    """Trades every 30 minutes from two hours before SINCE to a minute ago: the archive has the whole
    months after SINCE as monthly files (the first with a header row), the other days before today as
    daily files (one in milliseconds, one missing), and the exchange's REST has everything."""
    trades = make_trades(1, SINCE - timedelta(hours=2), NOW - timedelta(minutes=1), 1_800_000)
    with (
        ArchiveBackedBinance(symbols={"BTCUSDT": SINCE - timedelta(days=400)}) as exchange,
        FakeArchive() as archive,
    ):
        exchange.trades["BTCUSDT"] = trades  # type: ignore[assignment]
        world = World(exchange, archive, trades, [], [])
        day = SINCE
        while day < TODAY:
            if day.day == 1 and next_month(day) <= TODAY:
                span = world.in_span(day, next_month(day))
                path = archive.publish_trades(
                    "BTCUSDT", span, day.date(), monthly=True, header=not world.monthly
                )
                world.monthly.append(path)
                day = next_month(day)
                continue
            span = world.in_span(day, day + timedelta(days=1))
            path = archive.publish_trades("BTCUSDT", span, day.date(), micros=len(world.daily) != 3)
            world.daily.append(path)
            day += timedelta(days=1)
        archive.remove(world.daily[1])
        yield world


def test_archive_then_rest_stores_exactly_the_stream_rows(world: World, engine: Engine) -> None:
    summary = world.run(engine, since=SINCE)
    assert stored(engine) == expected(world.in_span(SINCE, END))
    assert stored(engine, SINCE - timedelta(days=1))[0].timestamp >= SINCE, "nothing before --since"
    missing = world.daily[1].rsplit("/", 1)[-1]
    assert summary.missing_files == [missing]  # type: ignore[attr-defined]
    assert summary.archive_files == len(world.daily) + len(world.monthly) - 1  # type: ignore[attr-defined]
    missing_day = SINCE + timedelta(days=1)
    from_rest = world.in_span(missing_day, missing_day + timedelta(days=1)) + world.in_span(TODAY, END)
    assert summary.rest_rows == len(from_rest)  # type: ignore[attr-defined]
    assert summary.venue_holes == []  # type: ignore[attr-defined]
    assert "archive:" in summary.line() and "REST:" in summary.line()  # type: ignore[attr-defined]


def test_a_rerun_downloads_nothing_and_refetch_imports_again(world: World, engine: Engine) -> None:
    world.run(engine, since=SINCE)
    zips, checksums = world.archive.count(".zip"), world.archive.count(".CHECKSUM")
    again = world.run(engine, since=SINCE)
    assert again.stored == 0  # type: ignore[attr-defined]
    assert world.archive.count(".zip") == zips
    assert world.archive.count(".CHECKSUM") == checksums + 1, "only the missing day is looked for again"
    world.run(engine, since=SINCE, refetch=True)
    assert world.archive.count(".zip") == 2 * zips
    assert stored(engine) == expected(world.in_span(SINCE, END))


def test_cron_mode_resumes_after_the_newest_stored_trade(world: World, engine: Engine) -> None:
    with pytest.raises(UsageError, match="--since"):
        world.run(engine)
    world.run(engine, since=SINCE, via=Via.archive)
    assert stored(engine)[-1].timestamp < TODAY
    more = make_trades(world.trades[-1].id + 1, NOW, NOW + timedelta(seconds=1), 100)
    world.trades.extend(more)
    summary = world.run(engine)
    assert summary.archive_files == 0  # type: ignore[attr-defined]
    assert stored(engine, TODAY) == expected(world.in_span(TODAY, END))


def test_trades_from_the_live_stream_are_not_doubled(world: World, engine: Engine) -> None:
    live = world.in_span(SINCE + timedelta(days=3), SINCE + timedelta(days=4))
    write_ticks(engine, [parse_trade_event(t.event("BTCUSDT")) for t in live])
    summary = world.run(engine, since=SINCE)
    assert stored(engine) == expected(world.in_span(SINCE, END))
    assert summary.stored == len(world.in_span(SINCE, END)) - len(live)  # type: ignore[attr-defined]


def test_a_corrupt_file_fails_the_run_and_stores_nothing_of_it(world: World, engine: Engine) -> None:
    bad = world.daily[2]
    world.archive.corrupt(bad)
    with pytest.raises(ArchiveError, match=bad.rsplit("/", 1)[-1].replace(".", r"\.")):
        world.run(engine, since=SINCE)
    day = SINCE + timedelta(days=2)
    assert [t for t in stored(engine) if day <= t.timestamp < day + timedelta(days=1)] == []


def test_holes_in_the_venues_data_are_reported_not_filled(world: World, engine: Engine) -> None:
    day = SINCE + timedelta(days=2)
    span = world.in_span(day, day + timedelta(days=1))
    gone = {t.id for t in span[10:14]}
    world.trades[:] = [t for t in world.trades if t.id not in gone]
    world.archive.publish_trades("BTCUSDT", [t for t in span if t.id not in gone], day.date())
    summary = world.run(engine, since=SINCE)
    assert summary.venue_holes == [(min(gone), max(gone))]  # type: ignore[attr-defined]
    assert stored(engine) == expected(world.in_span(SINCE, END))


def test_a_missing_month_falls_back_to_its_days(world: World, engine: Engine) -> None:
    if not world.monthly:
        pytest.skip("no whole month between SINCE and today")
    month = world.monthly[0]
    world.archive.remove(month)
    start = datetime.strptime(month.rsplit("-", 2)[-2] + "-" + month.rsplit("-", 1)[-1][:2], "%Y-%m").replace(
        tzinfo=UTC
    )
    day = start
    while day < next_month(start):
        world.archive.publish_trades(
            "BTCUSDT", world.in_span(day, day + timedelta(days=1)), date(day.year, day.month, day.day)
        )
        day += timedelta(days=1)
    summary = world.run(engine, since=SINCE)
    assert stored(engine) == expected(world.in_span(SINCE, END))
    assert summary.missing_files == [world.daily[1].rsplit("/", 1)[-1]]  # type: ignore[attr-defined]
