from datetime import UTC, datetime

import pytest

from mdtool.errors import UsageError
from mdtool.intervals import ceil_open, count_bars, floor_open, next_open, validate_interval


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_fixed_intervals_align_to_the_epoch() -> None:
    assert floor_open("15m", at(2024, 1, 1, 10, 22, 5)) == at(2024, 1, 1, 10, 15)
    assert floor_open("3d", at(2024, 1, 1)) == at(2023, 12, 31)  # day 19722 since the epoch, 19722 % 3 == 0


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    assert floor_open("1w", at(2024, 1, 3, 12)) == at(2024, 1, 1)
    assert floor_open("1M", at(2024, 2, 29, 23)) == at(2024, 2, 1)
    assert next_open("1M", at(2024, 12, 1)) == at(2025, 1, 1)
    assert count_bars("1M", at(2024, 1, 1), at(2025, 3, 1)) == 14


def test_ceil_and_count() -> None:
    assert ceil_open("1h", at(2024, 1, 1, 0, 0, 1)) == at(2024, 1, 1, 1)
    assert ceil_open("1h", at(2024, 1, 1, 1)) == at(2024, 1, 1, 1)
    assert count_bars("1m", at(2024, 1, 1), at(2025, 1, 1)) == 527_040


def test_unknown_interval_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown interval"):
        validate_interval("7m")
