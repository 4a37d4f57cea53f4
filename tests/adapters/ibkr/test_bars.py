"""Pure bar logic: interval mapping, request planning within IB's step table, IB labels to grid times."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from ib_async import BarData

from mdtool.adapters.ibkr.bars import BAR_SIZES, bar_open, is_closed, plan_requests, to_bars
from mdtool.errors import UsageError
from mdtool.intervals import INTERVALS
from tests.fakes.ib_gateway.bars import BAR_SECONDS, duration_seconds, step_allowed

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def test_every_binance_interval_maps_or_is_refused() -> None:
    assert set(INTERVALS) - set(BAR_SIZES) == {"6h", "12h", "3d"}
    with pytest.raises(UsageError):
        plan_requests("12h", T0, T0 + timedelta(days=1))


@pytest.mark.parametrize("interval", sorted(BAR_SIZES))
@pytest.mark.parametrize(
    "span",
    [timedelta(seconds=1), timedelta(minutes=7), timedelta(hours=9), timedelta(days=40), timedelta(days=800)],
)
def test_plans_cover_the_span_and_respect_the_step_table(interval: str, span: timedelta) -> None:
    plan = plan_requests(interval, T0, T0 + span)
    assert plan[0].start == T0 and plan[-1].end == T0 + span
    for before, after in itertools.pairwise(plan):
        assert before.end == after.start
    bar = BAR_SECONDS[BAR_SIZES[interval].setting]
    for request in plan:
        seconds = duration_seconds(request.duration)
        assert seconds is not None and seconds >= (request.end - request.start).total_seconds()
        assert step_allowed(seconds, bar), (interval, request.duration)


def test_labels_floor_onto_the_grid() -> None:
    assert bar_open("1h", datetime(2026, 1, 6, 14, 30, tzinfo=UTC)) == datetime(2026, 1, 6, 14, tzinfo=UTC)
    assert bar_open("1d", date(2026, 1, 6)) == datetime(2026, 1, 6, tzinfo=UTC)
    assert bar_open("1w", date(2026, 1, 9)) == datetime(2026, 1, 5, tzinfo=UTC)
    assert bar_open("1M", date(2026, 1, 30)) == datetime(2026, 1, 1, tzinfo=UTC)


def test_only_closed_bars_inside_the_window() -> None:
    rows = [
        BarData(datetime(2026, 1, 6, 14, m, tzinfo=UTC), 1.1, 1.3, 1.0, 1.2, 10.0, 1.15, 3)
        for m in range(57, 60)
    ] + [BarData(datetime(2026, 1, 6, 15, 0, tzinfo=UTC), 1.1, 1.3, 1.0, 1.2, 10.0, 1.15, 3)]
    window = (datetime(2026, 1, 6, 14, 58, tzinfo=UTC), datetime(2026, 1, 6, 16, tzinfo=UTC))
    bars = to_bars("X", "1m", rows, window, datetime(2026, 1, 6, 15, 0, 30, tzinfo=UTC))
    assert [b.timestamp.minute for b in bars] == [58, 59]
    assert str(bars[0].open) == "1.1" and str(bars[0].volume) == "10"


def test_a_session_aligned_bar_is_closed_only_when_its_own_span_is_over() -> None:
    label = datetime(2026, 1, 6, 14, 30, tzinfo=UTC)  # a 4-hour bar from 09:30 New York
    assert bar_open("4h", label) == datetime(2026, 1, 6, 12, tzinfo=UTC)
    assert not is_closed("4h", label, datetime(2026, 1, 6, 17, tzinfo=UTC))  # grid slot over, IB bar not
    assert is_closed("4h", label, datetime(2026, 1, 6, 18, 30, tzinfo=UTC))
    assert is_closed("1M", date(2026, 1, 1), datetime(2026, 2, 1, tzinfo=UTC))
