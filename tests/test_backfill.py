"""The shared backfill driver with a scripted in-memory venue (the real venues have their own tests)."""

import gc
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from mdtool.backfill import BackfillRequest, _covered, run_backfill
from mdtool.errors import BusyError, UsageError
from mdtool.intervals import next_open
from mdtool.ranges import holes, subtract
from mdtool.records import Bar
from mdtool.storage.locks import series_lock
from mdtool.storage.queries import bars_between, missing_ranges

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(minutes=100, seconds=30)


class ScriptedVenue:
    """A venue with one bar per minute from T0 on, pages of `page` bars; records what it was asked."""

    exchange = "testvenue"

    def __init__(self, page: int = 7) -> None:
        self.page = page
        self.request_count = 0
        self.asked: list[tuple[datetime, datetime]] = []

    def resolve_symbol(self, symbol: str) -> str:
        if symbol.upper() != "BTCUSDT":
            raise UsageError(f"unknown symbol {symbol}")
        return "BTCUSDT"

    def check_interval(self, interval: str) -> None:
        if interval != "1m":
            raise UsageError("only 1m here")

    def fetch_bars(
        self, symbol: str, interval: str, start: datetime, end: datetime
    ) -> Iterator[Sequence[Bar]]:
        self.asked.append((start, end))
        cursor = max(start, T0)
        while cursor < end:
            self.request_count += 1
            page = []
            while cursor < end and len(page) < self.page:
                page.append(Bar(self.exchange, symbol, interval, cursor, "1", "2", "0.5", "1.5", "10"))
                cursor = next_open(interval, cursor)
            yield page


def minute(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def test_backfill_stores_closed_bars_only_and_resumes(engine: Engine) -> None:
    venue = ScriptedVenue()
    summary = run_backfill(engine, venue, BackfillRequest("btcusdt", "1m", since=T0), now=NOW)
    assert summary.bars_stored == 100  # the bar opening at minute 100 is still open
    assert summary.end == minute(100)
    venue2 = ScriptedVenue()
    again = run_backfill(engine, venue2, BackfillRequest("BTCUSDT", "1m"), now=NOW + timedelta(minutes=5))
    assert venue2.asked == [(minute(100), minute(105))]
    assert again.bars_stored == 5


def test_complete_range_makes_no_requests(engine: Engine) -> None:
    run_backfill(engine, ScriptedVenue(), BackfillRequest("BTCUSDT", "1m", since=T0), now=NOW)
    venue = ScriptedVenue()
    summary = run_backfill(engine, venue, BackfillRequest("BTCUSDT", "1m", since=T0), now=NOW)
    assert venue.request_count == 0
    assert summary.bars_stored == 0


def test_gaps_inside_the_range_are_repaired(engine: Engine) -> None:
    run_backfill(
        engine, ScriptedVenue(), BackfillRequest("BTCUSDT", "1m", since=minute(0), until=minute(10)), now=NOW
    )
    run_backfill(
        engine, ScriptedVenue(), BackfillRequest("BTCUSDT", "1m", since=minute(20), until=minute(30)), now=NOW
    )
    venue = ScriptedVenue()
    summary = run_backfill(
        engine, venue, BackfillRequest("BTCUSDT", "1m", since=minute(0), until=minute(40)), now=NOW
    )
    assert venue.asked == [(minute(10), minute(20)), (minute(30), minute(40))]
    assert summary.gaps_filled == 1
    assert missing_ranges(engine, "testvenue", "BTCUSDT", "1m", minute(0), minute(40)) == []


def test_a_gap_the_venue_has_nothing_for_is_not_counted_as_filled(engine: Engine) -> None:
    for first, last in ((0, 10), (20, 30)):
        request = BackfillRequest("BTCUSDT", "1m", since=minute(first), until=minute(last))
        run_backfill(engine, ScriptedVenue(), request, now=NOW)
    venue = ScriptedVenue()
    summary = run_backfill(
        engine, venue, BackfillRequest("BTCUSDT", "1m", since=minute(-10), until=minute(40)), now=NOW
    )
    assert venue.asked == [(minute(-10), minute(0)), (minute(10), minute(20)), (minute(30), minute(40))]
    assert summary.gaps_filled == 1, "before the listing: nothing; the tail after the newest bar: no gap"
    assert summary.bars_stored == 20


def test_refetch_downloads_the_whole_range(engine: Engine) -> None:
    request = BackfillRequest("BTCUSDT", "1m", since=minute(0), until=minute(20))
    run_backfill(engine, ScriptedVenue(), request, now=NOW)
    venue = ScriptedVenue()
    summary = run_backfill(
        engine,
        venue,
        BackfillRequest("BTCUSDT", "1m", since=minute(0), until=minute(20), refetch=True),
        now=NOW,
    )
    assert venue.asked == [(minute(0), minute(20))]
    assert summary.bars_received == 20
    assert summary.bars_stored == 0
    assert len(bars_between(engine, "testvenue", "BTCUSDT", "1m", minute(0), minute(20))) == 20


def test_cron_mode_with_nothing_stored_asks_for_since(engine: Engine) -> None:
    with pytest.raises(UsageError, match="--since"):
        run_backfill(engine, ScriptedVenue(), BackfillRequest("BTCUSDT", "1m"), now=NOW)


def test_bad_symbol_interval_and_range(engine: Engine) -> None:
    with pytest.raises(UsageError, match="unknown symbol"):
        run_backfill(engine, ScriptedVenue(), BackfillRequest("NOPE", "1m", since=T0), now=NOW)
    with pytest.raises(UsageError, match="unknown interval"):
        run_backfill(engine, ScriptedVenue(), BackfillRequest("BTCUSDT", "7m", since=T0), now=NOW)
    with pytest.raises(UsageError, match="--until"):
        run_backfill(
            engine,
            ScriptedVenue(),
            BackfillRequest("BTCUSDT", "1m", since=minute(5), until=minute(1)),
            now=NOW,
        )


def test_an_overlapping_run_of_the_same_series_is_refused(engine: Engine) -> None:
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with series_lock(engine, "backfill testvenue BTCUSDT 1m"):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        with pytest.raises(BusyError, match="already working"):
            run_backfill(engine, ScriptedVenue(), BackfillRequest("BTCUSDT", "1m", since=T0), now=NOW)
    finally:
        release.set()
        holder.join()
    summary = run_backfill(
        engine, ScriptedVenue(), BackfillRequest("BTCUSDT", "1m", since=T0, lock_wait=5), now=NOW
    )
    assert summary.bars_stored == 100


def test_until_inside_a_bar_keeps_only_bars_closed_by_then(engine: Engine) -> None:
    venue = ScriptedVenue()
    until = minute(10) + timedelta(seconds=30)
    summary = run_backfill(engine, venue, BackfillRequest("BTCUSDT", "1m", since=T0, until=until), now=NOW)
    assert summary.end == minute(10)
    assert summary.bars_stored == 10


class TradingHoursVenue(ScriptedVenue):
    """Trades only in the first 30 minutes of every hour: the rest of each hour is a real absence."""

    def fetch_bars(
        self, symbol: str, interval: str, start: datetime, end: datetime
    ) -> Iterator[Sequence[Bar]]:
        for page in super().fetch_bars(symbol, interval, start, end):
            yield [bar for bar in page if bar.timestamp.minute < 30]


def test_ranges_the_venue_answered_empty_are_not_asked_again(engine: Engine) -> None:
    now = T0 + timedelta(hours=12)
    request = BackfillRequest("BTCUSDT", "1m", since=T0)
    first = TradingHoursVenue()
    summary = run_backfill(engine, first, request, now=now)
    assert summary.bars_stored == 12 * 30
    again = TradingHoursVenue()
    run_backfill(engine, again, request, now=now)
    # Only the absences younger than the settle time (6 h) are asked for again.
    assert all(start >= now - timedelta(hours=6, minutes=60) for start, _ in again.asked)
    assert len(again.asked) == 6
    refetch = TradingHoursVenue()
    run_backfill(engine, refetch, BackfillRequest("BTCUSDT", "1m", since=T0, refetch=True), now=now)
    assert refetch.asked == [(T0, now)]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["1m", "1h", "1w", "1M"]),
    st.lists(st.integers(0, 60), max_size=30),
    st.booleans(),
    st.integers(0, 70),
)
def test_spans_covered_by_pages_leave_the_holes_bar_by_bar_would(
    interval: str, steps: list[int], shuffled: bool, length: int
) -> None:
    """`_covered` (one span for a usual page) leaves of a range exactly what `ranges.holes` finds."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start
    for _ in range(length):
        end = next_open(interval, end)
    opens, moment = [], start
    for step in steps:  # 0 repeats a bar, 1 is the next bar, more leaves a hole
        for _ in range(step):
            moment = next_open(interval, moment)
        if moment < end:
            opens.append(moment)
    if shuffled:
        opens.reverse()
    assert subtract([(start, end)], _covered(interval, opens)) == holes(interval, start, end, sorted(opens))
    if steps and set(steps[1:]) == {1} and opens and not shuffled:
        assert len(_covered(interval, opens)) == (1 if interval != "1M" else len(opens))


class ThresholdWatchingVenue(ScriptedVenue):
    """Records the garbage collector's thresholds while it is asked for bars."""

    def __init__(self) -> None:
        super().__init__()
        self.thresholds: list[tuple[int, int, int]] = []

    def fetch_bars(
        self, symbol: str, interval: str, start: datetime, end: datetime
    ) -> Iterator[Sequence[Bar]]:
        self.thresholds.append(gc.get_threshold())
        yield from super().fetch_bars(symbol, interval, start, end)


@pytest.mark.parametrize("young", [700, 100_000])
def test_collections_are_fewer_during_a_backfill_and_the_threshold_is_put_back(
    engine: Engine, young: int
) -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(young, before[1], before[2])
        venue = ThresholdWatchingVenue()
        run_backfill(engine, venue, BackfillRequest("BTCUSDT", "1m", since=T0), now=NOW)
        assert venue.thresholds == [(max(young, 50_000), before[1], before[2])]
        assert gc.get_threshold() == (young, before[1], before[2])
    finally:
        gc.set_threshold(*before)
