from datetime import UTC, datetime, timedelta

from mdtool.ranges import evenly_spaced, holes, subtract

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def m(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def test_holes_at_start_middle_and_end() -> None:
    assert holes("1m", m(0), m(10), [m(2), m(3), m(7)]) == [(m(0), m(2)), (m(4), m(7)), (m(8), m(10))]
    assert holes("1m", m(0), m(3), [m(0), m(1), m(2)]) == []
    assert holes("1m", m(0), m(3), []) == [(m(0), m(3))]


def test_subtract() -> None:
    assert subtract([(m(0), m(10))], [(m(2), m(4)), (m(6), m(12))]) == [(m(0), m(2)), (m(4), m(6))]
    assert subtract([(m(0), m(5)), (m(8), m(9))], [(m(0), m(5))]) == [(m(8), m(9))]
    assert subtract([(m(0), m(5))], []) == [(m(0), m(5))]
    assert subtract([(m(3), m(5))], [(m(0), m(4)), (m(1), m(2))]) == [(m(4), m(5))]


def test_evenly_spaced_series_are_told_from_any_other() -> None:
    minute = timedelta(minutes=1)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert evenly_spaced([start + i * minute for i in range(5)], minute)
    assert evenly_spaced([], minute) and evenly_spaced([start], minute)
    assert not evenly_spaced([start, start + minute, start + 3 * minute], minute)
    assert not evenly_spaced([start, start + 2 * minute, start + 3 * minute], minute)  # same span, uneven
    assert evenly_spaced([7, 10, 13], 3)
    assert not evenly_spaced([0, 1, 10**12], 1)  # one huge gap: compared value by value, never ranged
