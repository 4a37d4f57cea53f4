"""Archive paths and plans (pure): months whole, days for the rest, REST from today."""

from datetime import UTC, date, datetime

from mdtool.adapters.binance.archive_layout import (
    DAILY,
    MONTHLY,
    TRADES,
    archive_interval,
    days_of,
    file_for,
    plan,
)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type]


def test_paths_follow_the_archive_layout() -> None:
    assert file_for(TRADES, "BTCUSDT", MONTHLY, date(2024, 1, 9)).path == (
        "data/spot/monthly/trades/BTCUSDT/BTCUSDT-trades-2024-01.zip"
    )
    assert file_for(TRADES, "BTCUSDT", DAILY, date(2024, 1, 9)).path == (
        "data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-09.zip"
    )
    assert file_for("1m", "ETHUSDT", DAILY, date(2024, 2, 29)).path == (
        "data/spot/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2024-02-29.zip"
    )
    month = file_for("1M", "ETHUSDT", MONTHLY, date(2024, 12, 31))
    assert month.path == "data/spot/monthly/klines/ETHUSDT/1mo/ETHUSDT-1mo-2024-12.zip"
    assert (month.start, month.end) == (at(2024, 12, 1), at(2025, 1, 1))
    assert month.name == "ETHUSDT-1mo-2024-12.zip"
    assert archive_interval("1M") == "1mo" and archive_interval("1h") == "1h"


def test_plan_takes_whole_months_then_days_then_rest() -> None:
    layout = plan(TRADES, "BTCUSDT", at(2024, 1, 30, 12), at(2024, 4, 10), now=at(2024, 3, 5, 8))
    labels = [(f.period, f.label) for f in layout.files]
    assert labels == [
        (DAILY, "2024-01-30"),
        (DAILY, "2024-01-31"),
        (MONTHLY, "2024-02"),
        (DAILY, "2024-03-01"),
        (DAILY, "2024-03-02"),
        (DAILY, "2024-03-03"),
        (DAILY, "2024-03-04"),
    ]
    assert layout.rest_from == at(2024, 3, 5)


def test_plan_spans_neither_overlap_nor_leave_gaps() -> None:
    start, now = at(2023, 11, 15, 7, 30), at(2024, 6, 20, 13)
    layout = plan("1m", "BTCUSDT", start, now, now)
    cursor = at(2023, 11, 15)
    for file in layout.files:
        assert file.start == cursor
        cursor = file.end
    assert cursor == layout.rest_from == at(2024, 6, 20)


def test_plan_ending_in_the_past_needs_no_rest() -> None:
    layout = plan("1m", "BTCUSDT", at(2024, 1, 1), at(2024, 3, 1), now=at(2025, 1, 1))
    assert [f.label for f in layout.files] == ["2024-01", "2024-02"]
    assert layout.rest_from == at(2024, 3, 1)


def test_a_month_ending_today_is_not_planned_as_a_month() -> None:
    layout = plan("1m", "BTCUSDT", at(2024, 2, 1), at(2024, 3, 1), now=at(2024, 3, 1, 0, 5))
    assert layout.files[0].period == MONTHLY  # February ended before today began
    layout = plan("1m", "BTCUSDT", at(2024, 2, 1), at(2024, 3, 1), now=at(2024, 2, 29, 23))
    assert {f.period for f in layout.files} == {DAILY}
    assert layout.rest_from == at(2024, 2, 29)


def test_days_of_a_missing_month() -> None:
    month = file_for(TRADES, "BTCUSDT", MONTHLY, date(2024, 2, 1))
    days = days_of(month, TRADES, "BTCUSDT")
    assert len(days) == 29 and days[0].start == month.start and days[-1].end == month.end
