"""`parse_klines` (a page checked as a whole) is `parse_kline` row by row, for any page whatsoever."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdtool.adapters.binance.parse import kline_open_ms, parse_kline, parse_klines
from mdtool.errors import MdtoolError

T0 = 1_735_689_600_000
MINUTE = 60_000


def row(
    opened: int,
    o: Any = "42000.01000000",
    h: Any = "42010.00000000",
    low: Any = "41990.50000000",
    c: Any = "42000.01000000",
    v: Any = "12.50000000",
    q: Any = "525000.10000000",
    n: Any = 17,
) -> list[Any]:
    return [opened, o, h, low, c, v, opened + MINUTE - 1, q, n, "6.2", "260000.1", "0"]  # fmt: skip


def row_by_row(rows: list[Any], start: int, stop: int) -> list[Any]:
    return [parse_kline(r, "BTCUSDT", "1m") for r in rows if start <= kline_open_ms(r) < stop]


def outcome(parse: Any) -> tuple[str, Any]:
    """("ok", bars with their exact reprs) or ("error", the error's type and message)."""
    try:
        bars = parse()
    except MdtoolError as error:
        return "error", (type(error), str(error))
    return "ok", [(bar, repr(bar)) for bar in bars]


def same_as_row_by_row(rows: list[Any], start: int = T0, stop: int = T0 + 10_000 * MINUTE) -> None:
    page = outcome(lambda: parse_klines(rows, "BTCUSDT", "1m", start, stop))
    assert page == outcome(lambda: row_by_row(rows, start, stop))


def test_a_usual_page_is_parsed_exactly_and_clipped() -> None:
    rows = [row(T0 + i * MINUTE) for i in range(10)]
    bars = parse_klines(rows, "BTCUSDT", "1m", T0 + MINUTE, T0 + 9 * MINUTE)
    assert [b.timestamp for b in bars] == [
        b.timestamp for b in row_by_row(rows, T0 + MINUTE, T0 + 9 * MINUTE)
    ]
    assert len(bars) == 8
    assert repr(bars[0].low) == "Decimal('41990.5')"
    same_as_row_by_row(rows)


@pytest.mark.parametrize(
    "odd",
    [
        {"o": "42000.01000000", "h": "41000.00000000"},  # high below open
        {"low": "42005.00000000"},  # low above open
        {"v": "-1.0"},  # negative volume
        {"v": "1e3"},  # exponent
        {"v": "100"},  # no point: trimming zeros would be wrong
        {"v": "1.2.", "q": "100"},  # two points here, none there
        {"v": ".0"},  # trims to nothing
        {"v": "."},
        {"v": " 1.5"},
        {"v": "1_0.5"},
        {"v": "\u0661.5"},  # an Arabic-Indic digit: Decimal reads it, the plain check must not pass it
        {"v": "1.5\n"},
        {"v": "NaN"},
        {"q": None},
        {"q": 1.5},
        {"n": "17"},
        {"n": -1},
        {"n": True},
        {"v": "0." + "0" * 45 + "1"},  # too long for the plain path
    ],
)
def test_unusual_pages_behave_exactly_as_row_by_row(odd: dict[str, Any]) -> None:
    rows = [row(T0), row(T0 + MINUTE, **odd), row(T0 + 2 * MINUTE)]
    same_as_row_by_row(rows)


def test_malformed_rows_and_names_behave_as_row_by_row() -> None:
    same_as_row_by_row([row(T0), [T0 + MINUTE, "1"]])
    same_as_row_by_row([row(T0), {"t": 1}])
    same_as_row_by_row([row(T0), ["x", *row(0)[1:]]])
    assert outcome(lambda: parse_klines([row(T0)], "", "1m", T0, T0 + MINUTE))[0] == "error"
    assert parse_klines([], "BTCUSDT", "1m", T0, T0 + MINUTE) == []


decimal_texts = st.one_of(
    st.from_regex(r"[0-9]{0,6}\.[0-9]{0,9}", fullmatch=True),
    st.sampled_from(["0.00000000", "100.00000000", "1e3", "-0.5", "5", "", ".", "00.10"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(decimal_texts, decimal_texts, decimal_texts, decimal_texts, decimal_texts,
                          st.one_of(st.integers(-1, 10**6), st.just("3"))), max_size=6))  # fmt: skip
def test_any_page_is_parsed_as_row_by_row(fields: list[tuple[Any, ...]]) -> None:
    rows = [row(T0 + i * MINUTE, o, o, o, o, v, q, n) for i, (o, v, q, _, _, n) in enumerate(fields)]
    rows += [
        row(T0 + (i + 10) * MINUTE, low=low, o=o, c=c, h=h) for i, (low, o, c, h, _, _) in enumerate(fields)
    ]
    same_as_row_by_row(rows)


def test_open_times_off_the_second_unordered_or_before_1970_behave_as_row_by_row() -> None:
    same_as_row_by_row([row(T0), row(T0 + 500), row(T0 + MINUTE)])  # not a whole second
    same_as_row_by_row([row(T0 + 2 * MINUTE), row(T0), row(T0 + MINUTE)])  # unordered
    same_as_row_by_row([row(T0), row(T0 + 1), row(T0 + 10**12)], stop=T0 + 2 * 10**12)  # one huge gap
    same_as_row_by_row([row(-MINUTE), row(0), row(MINUTE)], start=-MINUTE, stop=MINUTE)
    same_as_row_by_row([row(T0 + i * MINUTE) for i in range(5)], start=T0 + MINUTE, stop=T0 + 3 * MINUTE)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-(10**12), 10**13), max_size=8),
    st.integers(-(10**12), 10**13),
    st.integers(0, 10**12),
)
def test_any_open_times_and_clip_are_parsed_as_row_by_row(opens: list[int], start: int, span: int) -> None:
    same_as_row_by_row([row(opened) for opened in opens], start=start, stop=start + span)
