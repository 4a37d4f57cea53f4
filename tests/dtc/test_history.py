"""How a HISTORICAL_PRICE_DATA_REQUEST maps to a stored range and interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mdtool.dtc.history import RECORD_INTERVALS, requested_range, supported
from mdtool.dtc.messages import HistoricalPriceDataRequest
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


@pytest.mark.parametrize("seconds", [-1, 2, 7, 120, 2_592_000])
def test_other_intervals_are_unsupported(seconds: int) -> None:
    assert not supported(seconds)
