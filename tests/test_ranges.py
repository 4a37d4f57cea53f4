from datetime import UTC, datetime, timedelta

from mdtool.ranges import holes, subtract

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
