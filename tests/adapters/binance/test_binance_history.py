"""The kline bar source against the fake exchange, through the real binance-connector."""

from __future__ import annotations

import itertools
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mdtool.adapters.binance.history import BinanceBarSource
from mdtool.adapters.binance.rest import BinanceBanned, BinanceRest
from mdtool.errors import ExchangeError, UsageError
from mdtool.intervals import floor_open
from mdtool.records import Bar
from tests.fakes.binance import FakeBinance, kline_row, ms

START = datetime(2024, 1, 1, tzinfo=UTC)


def collect(
    source: BinanceBarSource, symbol: str, interval: str, start: datetime, end: datetime
) -> list[Bar]:
    bars: list[Bar] = []
    for page in source.fetch_bars(symbol, interval, start, end):
        assert page, "pages are never empty"
        bars.extend(page)
    return bars


def assert_contiguous(bars: list[Bar], step: timedelta) -> None:
    for before, after in itertools.pairwise(bars):
        assert after.timestamp - before.timestamp == step


def test_pages_a_range_in_ascending_order(fake: FakeBinance, rest: BinanceRest) -> None:
    source = BinanceBarSource(rest)
    end = START + timedelta(minutes=2500)
    bars = collect(source, "BTCUSDT", "1m", START, end)
    assert len(bars) == 2500
    assert bars[0].timestamp == START
    assert bars[-1].timestamp == end - timedelta(minutes=1)
    assert_contiguous(bars, timedelta(minutes=1))
    assert fake.request_count("/api/v3/klines") == 3
    row = kline_row("BTCUSDT", "1m", ms(START))
    assert bars[0].open == Decimal(row[1])
    assert bars[0].volume == Decimal(row[5])
    assert source.request_count == rest.request_count == 4  # exchangeInfo + 3 pages


def test_resolve_symbol_and_interval_errors(fake: FakeBinance, rest: BinanceRest) -> None:
    source = BinanceBarSource(rest)
    assert source.resolve_symbol("btcusdt") == "BTCUSDT"
    with pytest.raises(UsageError, match="unknown Binance symbol"):
        source.resolve_symbol("NOPEUSDT")
    with pytest.raises(UsageError):
        source.check_interval("2m")
    with pytest.raises(UsageError, match="unknown Binance symbol"):
        collect(source, "NOPEUSDT", "1m", START, START + timedelta(hours=1))


def test_starts_at_the_listing_date_without_empty_pages() -> None:
    listed = datetime(2024, 3, 5, 10, 17, tzinfo=UTC)
    with FakeBinance(symbols={"NEWUSDT": listed}) as fake, closing(BinanceRest(fake.base_url)) as rest:
        bars = collect(BinanceBarSource(rest), "NEWUSDT", "1m", START, listed + timedelta(minutes=1500))
        assert bars[0].timestamp == listed
        assert len(bars) == 1500
        # one probe that jumps to the listing, then the remaining page: not 90 days of empty pages
        assert fake.request_count("/api/v3/klines") == 2


def test_only_closed_bars_up_to_now(fake: FakeBinance, rest: BinanceRest) -> None:
    source = BinanceBarSource(rest)
    now = datetime.now(UTC)
    bars = collect(source, "BTCUSDT", "1m", now - timedelta(minutes=30), now + timedelta(hours=1))
    current_open = floor_open("1m", datetime.now(UTC))
    assert bars
    assert bars[-1].timestamp < current_open
    assert bars[-1].timestamp >= current_open - timedelta(minutes=2)
    assert len(bars) in (29, 30, 31)


def test_end_is_exclusive_and_unaligned_start_rounds_up(fake: FakeBinance, rest: BinanceRest) -> None:
    source = BinanceBarSource(rest)
    bars = collect(source, "BTCUSDT", "1h", START + timedelta(minutes=5), START + timedelta(hours=5))
    assert [b.timestamp for b in bars] == [START + timedelta(hours=h) for h in range(1, 5)]


@pytest.mark.parametrize(("interval", "count"), [("1w", 8), ("1M", 14), ("1d", 1200)])
def test_calendar_intervals(fake: FakeBinance, rest: BinanceRest, interval: str, count: int) -> None:
    source = BinanceBarSource(rest)
    begin = START if interval != "1d" else datetime(2020, 1, 1, tzinfo=UTC)
    end = {"1w": START + timedelta(weeks=8), "1M": datetime(2025, 3, 1, tzinfo=UTC)}.get(
        interval, begin + timedelta(days=1200)
    )
    bars = collect(source, "BTCUSDT", interval, begin, end)
    assert len(bars) == count
    if interval == "1w":
        assert all(b.timestamp.weekday() == 0 for b in bars)
    if interval == "1M":
        assert all(b.timestamp.day == 1 for b in bars)


def test_exchange_outage_leaves_a_hole_and_paging_continues(fake: FakeBinance, rest: BinanceRest) -> None:
    fake.add_outage(START + timedelta(minutes=900), START + timedelta(minutes=1200))
    bars = collect(BinanceBarSource(rest), "BTCUSDT", "1m", START, START + timedelta(minutes=3000))
    assert len(bars) == 2700
    assert START + timedelta(minutes=1200) in {b.timestamp for b in bars}


def test_paces_requests_under_the_learned_weight_limit() -> None:
    # 40 weight per second: exchangeInfo (20) + 10 pages of klines (2 each) need at least two windows.
    with (
        FakeBinance(weight_limit=40, weight_interval=("SECOND", 1)) as fake,
        closing(BinanceRest(fake.base_url)) as rest,
    ):
        bars = collect(
            BinanceBarSource(rest, pages_in_flight=4),
            "BTCUSDT",
            "1m",
            START,
            START + timedelta(minutes=10_000),
        )
        assert len(bars) == 10_000
        assert [status for *_, status in fake.requests] == [200] * 11
        assert fake.violations == 0
        assert len({int(when) for when, *_ in fake.requests}) >= 2  # it waited for a new window
        assert rest.gate.limits[0].limit == 40


def test_429_pauses_every_request_for_retry_after(fake: FakeBinance, rest: BinanceRest) -> None:
    fake.inject(429, retry_after=1, skip=3)  # in the middle of the planned pages
    started = time.monotonic()
    bars = collect(BinanceBarSource(rest), "BTCUSDT", "1m", START, START + timedelta(minutes=8000))
    assert len(bars) == 8000
    assert time.monotonic() - started >= 1.0
    assert fake.violations == 0, "a request was sent during Retry-After"
    assert [s for *_, s in fake.requests].count(429) == 1


def test_server_errors_and_resets_are_retried(fake: FakeBinance, rest: BinanceRest) -> None:
    fake.inject(500, count=2)
    fake.inject(0)  # connection reset without an answer
    fake.inject(503)
    bars = collect(BinanceBarSource(rest), "BTCUSDT", "1m", START, START + timedelta(minutes=2000))
    assert len(bars) == 2000
    assert_contiguous(bars, timedelta(minutes=1))
    assert rest.request_count == 1 + 2 + 4


def test_retries_are_bounded(fake: FakeBinance) -> None:
    fake.inject(502, count=5)
    with (
        closing(BinanceRest(fake.base_url, max_retries=2, backoff=0.01)) as rest,
        pytest.raises(ExchangeError, match="failed 3 times"),
    ):
        collect(BinanceBarSource(rest), "BTCUSDT", "1m", START, START + timedelta(minutes=10))


def test_418_stops_with_a_clear_error(fake: FakeBinance, rest: BinanceRest) -> None:
    fake.inject(418, retry_after=120)
    with pytest.raises(BinanceBanned, match="banned this IP for 120 s"):
        collect(BinanceBarSource(rest), "BTCUSDT", "1m", START, START + timedelta(minutes=10))
