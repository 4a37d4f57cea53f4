"""A read's stream messages decoded at once: the same ticks as the checked parser, whatever arrives."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mdtool.adapters.binance.decode import TradeDecoder
from mdtool.adapters.binance.parse import parse_trade_event

EVENT: dict[str, Any] = {
    "e": "trade",
    "E": 1672515782136,
    "s": "BTCUSDT",
    "t": 12345,
    "p": "42000.01000000",
    "q": "0.00100000",
    "T": 1672515782136,
    "m": True,
    "M": True,
}


def combined(event: Any) -> bytes:
    return json.dumps({"stream": "btcusdt@trade", "data": event}).encode()


def raw(event: Any) -> bytes:
    return json.dumps(event).encode()


def test_combined_and_raw_trades_equal_the_checked_parser() -> None:
    decoder = TradeDecoder()
    second = {**EVENT, "t": 12346, "m": False, "T": EVENT["T"] + 1}
    read = decoder.decode([combined(EVENT), raw(second), combined(second), raw(EVENT)])
    assert read.ticks == [parse_trade_event(e) for e in (EVENT, second, second, EVENT)]
    assert read.ids == [12345, 12346, 12346, 12345]
    assert read.last_trade_ms == EVENT["T"]
    assert not read.others and not read.malformed


def test_remembered_values_give_the_same_ticks_as_fresh_ones() -> None:
    decoder = TradeDecoder(cache_limit=2)
    events = [{**EVENT, "t": i, "p": f"{100 + i % 3}.50", "q": f"{i % 4}.000"} for i in range(12)]
    ticks = [tick for e in events for tick in decoder.decode([combined(e)]).ticks]
    assert ticks == [parse_trade_event(e) for e in events]
    assert ticks[0].size == 0 and str(ticks[0].size) == "0"


def test_control_messages_and_shutdown_notices_are_not_trades() -> None:
    reply, notice, kline = {"result": None, "id": 1}, {"e": "serverShutdown", "E": 1}, {"e": "kline"}
    read = TradeDecoder().decode(
        [raw(reply), combined(notice), combined(kline), raw([1, 2]), combined(EVENT), b"not json{"]
    )
    assert read.others == [
        reply,
        {"stream": "btcusdt@trade", "data": notice},
        {"stream": "btcusdt@trade", "data": kline},
        [1, 2],
    ]
    assert read.ticks == [parse_trade_event(EVENT)]
    assert read.malformed == [(b"not json{", "not JSON")]


def test_unusual_but_valid_trades_take_the_checked_path_in_order() -> None:
    unusual = [
        {**EVENT, "t": "12346"},  # id as text
        {**EVENT, "t": 12347, "p": 42000},  # price unquoted
        {**EVENT, "t": 12348, "m": 0},  # side flag as a number
        {**EVENT, "t": 12349, "p": "4.2E+4"},  # exponent form
    ]
    texts = [combined(EVENT)] + [combined(e) for e in unusual] + [combined({**EVENT, "t": 12350})]
    read = TradeDecoder().decode(texts)
    expected = [EVENT, *unusual, {**EVENT, "t": 12350}]
    assert read.ticks == [parse_trade_event(e) for e in expected]
    assert read.ids == list(range(12345, 12351))
    assert not read.malformed


def test_trades_failing_their_checks_are_malformed_and_the_rest_kept() -> None:
    bad = [
        {**EVENT, "q": "-1.0"},  # negative size
        {**EVENT, "p": "-1.0", "q": "-1.0"},  # negative size once its text is a known price
        {**EVENT, "s": " "},  # blank symbol
        {k: v for k, v in EVENT.items() if k != "m"},  # missing field
        {**EVENT, "p": 1.5},  # float price
        {**EVENT, "t": "abc"},  # id that is not a number
        {**EVENT, "p": "nan"},
    ]
    decoder = TradeDecoder()
    decoder.decode([combined({**EVENT, "p": "-1.0"})])  # remembers "-1.0" as a price
    read = decoder.decode([combined(e) for e in bad] + [combined(EVENT)])
    assert read.ticks == [parse_trade_event(EVENT)]
    assert [message for message, _ in read.malformed] == bad


def test_fixed_point_decimals_normalise_as_records_do() -> None:
    events = [
        {**EVENT, "t": i, "p": p, "q": q}
        for i, (p, q) in enumerate(
            [("100.000", "0.00000000"), ("0100", "10"), ("0.00000001", "1.10"), ("1." + "0" * 36 + "1", "2")]
        )
    ]
    read = TradeDecoder().decode([raw(e) for e in events])
    assert read.ticks == [parse_trade_event(e) for e in events]
    assert [str(t.price) for t in read.ticks][:2] == ["100", "100"]


numbers = st.one_of(
    st.from_regex(r"-?[0-9]{1,12}(\.[0-9]{0,10})?", fullmatch=True),
    st.integers(-10, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "1e5", " 1.0", "0.", ".5", "NaN", "1_000"]),
)
events = st.fixed_dictionaries(
    {
        "e": st.just("trade"),
        "s": st.sampled_from(["BTCUSDT", "ETHBTC", "", " "]),
        "t": st.one_of(st.integers(0, 2**70), st.sampled_from(["7", "x", None])),
        "p": numbers,
        "q": numbers,
        "T": st.one_of(st.integers(0, 2**45), st.sampled_from(["1", None])),
        "m": st.one_of(st.booleans(), st.integers(0, 1)),
    }
)


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=6), st.booleans())
def test_any_trades_decode_as_the_checked_parser_says(batch: list[dict[str, Any]], wrap: bool) -> None:
    expected = []
    for event in batch:
        try:
            tick = parse_trade_event(event)
            int(tick.trade_id)
        except (KeyError, TypeError, ValueError, OverflowError):
            continue
        expected.append(tick)
    read = TradeDecoder(cache_limit=3).decode([combined(e) if wrap else raw(e) for e in batch])
    assert read.ticks == expected
    assert len(read.ticks) + len(read.malformed) == len(batch)
