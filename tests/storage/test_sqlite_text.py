"""The SQLite text forms: the fast conversions equal the plain definitions for every value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, localcontext

from hypothesis import given
from hypothesis import strategies as st

from mdtool.records import normalize_decimal
from mdtool.storage.sqlite_text import decimal_text, time_text, time_texts

decimals = st.decimals(
    allow_nan=False, allow_infinity=False, min_value=-(10**15), max_value=10**15, places=12
)
moments = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                  timezone(-timedelta(hours=8))]))  # fmt: skip


@given(decimals)
def test_decimal_text_is_the_plain_fixed_point_text(value: Decimal) -> None:
    number = normalize_decimal(value)
    assert decimal_text(number) == format(number, "f")
    assert "E" not in decimal_text(number)


@given(st.lists(moments, max_size=30))
def test_time_texts_equal_time_text_one_by_one(values: list[datetime]) -> None:
    texts = time_texts(values)
    assert texts == [time_text(v) for v in values]
    assert all(len(t) == 26 for t in texts)
    assert [datetime.fromisoformat(t).replace(tzinfo=UTC) for t in texts] == values


def test_time_text_is_fixed_width_before_year_1000() -> None:
    # strftime("%Y") writes year 999 as "999": the text was neither fixed-width nor readable back.
    assert time_text(datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "0999-01-02 03:04:05.000006"
    assert (
        time_text(datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=2))))
        == "2023-12-31 23:00:00.000000"
    )


def test_second_texts_match_isoformat_for_every_second_of_a_day() -> None:
    day = datetime(2024, 2, 29, tzinfo=UTC)
    moments = [day + timedelta(seconds=s) for s in range(86_400)]
    assert time_texts(moments) == [time_text(m) for m in moments]


def test_decimal_text_is_plain_whatever_the_context_capitals() -> None:
    """`str()` follows the thread's context: with `capitals=0` it writes `1e-7`, never to be stored."""
    with localcontext() as context:
        context.capitals = 0
        assert str(Decimal("1E-7")) == "1e-7"
        assert decimal_text(Decimal("1E-7")) == "0.0000001"
