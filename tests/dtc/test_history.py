"""How a HISTORICAL_PRICE_DATA_REQUEST maps to a stored range and interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mdtool.dtc.history import RECORD_INTERVALS, requested_range, supported
from mdtool.dtc.messages import HISTORICAL_DATA_INTERVALS, HistoricalPriceDataRequest
from mdtool.intervals import INTERVALS, nominal_length

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def test_zero_means_earliest_and_latest() -> None:
    start, end = requested_range(HistoricalPriceDataRequest(), NOW)
    assert start == EPOCH
    assert end > NOW + timedelta(days=365 * 1000)


def test_end_second_is_included() -> None:
    request = HistoricalPriceDataRequest(StartDateTime=1_700_000_000, EndDateTime=1_700_000_060)
    start, end = requested_range(request, NOW)
    assert start == EPOCH + timedelta(seconds=1_700_000_000)
    assert end == EPOCH + timedelta(seconds=1_700_000_061)


def test_max_days_limits_an_open_start() -> None:
    start, _ = requested_range(HistoricalPriceDataRequest(MaxDaysToReturn=3), NOW)
    assert start == NOW - timedelta(days=3)
    end_second = int((NOW - timedelta(days=10)).timestamp())
    request = HistoricalPriceDataRequest(EndDateTime=end_second, MaxDaysToReturn=2)
    start, end = requested_range(request, NOW)
    assert end - start == timedelta(days=2)


def test_record_intervals_are_the_stored_fixed_intervals() -> None:
    for seconds, interval in RECORD_INTERVALS.items():
        assert interval in INTERVALS
        assert nominal_length(interval) == timedelta(seconds=seconds)
    assert supported(0)
    assert supported(60)


@pytest.mark.parametrize("seconds", [-1, 3, 7, 120, 2_592_000])
def test_other_intervals_are_unsupported(seconds: int) -> None:
    assert not supported(seconds)


def test_every_interval_of_the_protocol_is_supported() -> None:
    """HistoricalDataIntervalEnum: 2 s, 4 s, 10 s... are served too, by aggregation (issue 13)."""
    assert all(supported(seconds) for seconds in HISTORICAL_DATA_INTERVALS)


def test_max_days_counts_back_from_the_newest_stored_record_without_an_end() -> None:
    newest = NOW - timedelta(days=30)  # the feed stopped a month ago
    start, _ = requested_range(HistoricalPriceDataRequest(MaxDaysToReturn=2), NOW, newest)
    assert start == newest - timedelta(days=2)
    end_second = int((NOW - timedelta(days=10)).timestamp())
    with_end = HistoricalPriceDataRequest(EndDateTime=end_second, MaxDaysToReturn=2)
    start, end = requested_range(with_end, NOW, newest)
    assert end - start == timedelta(days=2)  # an explicit EndDateTime is the anchor


@pytest.mark.parametrize(
    ("start", "end", "days"), [(0, 2**63 - 1, 2**32 - 1), (2**63 - 1, 0, 1), (1, 2**62, 0)]
)
def test_extreme_request_values_give_a_range_not_an_overflow(start: int, end: int, days: int) -> None:
    request = HistoricalPriceDataRequest(StartDateTime=start, EndDateTime=end, MaxDaysToReturn=days)
    low, high = requested_range(request, NOW)
    assert low >= EPOCH
    assert high <= datetime(9999, 1, 1, tzinfo=UTC)
