from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from mdtool.errors import RecordError
from mdtool.records import Bar, Tick, bars_from_checked, normalize_decimal, ticks_from_checked, to_decimal

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def bar(**overrides: object) -> Bar:
    values: dict[str, object] = {
        "exchange": "binance", "symbol": "BTCUSDT", "interval": "1m", "timestamp": T0,
        "open": "42000.01000000", "high": "42001", "low": "41999", "close": "42000", "volume": "1.5",
    }  # fmt: skip
    values.update(overrides)
    return Bar(**values)  # type: ignore[arg-type]


def test_decimal_strings_are_normalised_exactly() -> None:
    assert bar().open == Decimal("42000.01")
    assert str(bar().open) == "42000.01"
    assert str(bar(volume="100.000").volume) == "100"


def test_high_below_low_is_rejected() -> None:
    with pytest.raises(RecordError, match="high"):
        bar(high="1", low="2", open="1", close="1")


def test_open_outside_range_is_rejected() -> None:
    with pytest.raises(RecordError, match="open"):
        bar(open="50000")


def test_negative_volume_is_rejected() -> None:
    with pytest.raises(RecordError, match="volume"):
        bar(volume="-1")


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(RecordError, match="timezone-aware"):
        bar(timestamp=datetime(2024, 1, 1))


def test_floats_are_refused_because_they_are_inexact() -> None:
    with pytest.raises(RecordError, match="decimal"):
        bar(volume=1.5)


def test_other_zones_are_converted_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert bar(timestamp=datetime(2024, 1, 1, 2, tzinfo=plus_two)).timestamp == T0
    assert bar(timestamp=datetime(2024, 1, 1, 2, tzinfo=plus_two)).timestamp.tzinfo is UTC


def test_tick_validation() -> None:
    tick = Tick("binance", "BTCUSDT", T0, "trade", "1", "42000.01000000", "0.00100000", "buy")
    assert tick.price == Decimal("42000.01")
    assert tick.size == Decimal("0.001")
    with pytest.raises(RecordError, match="negative size"):
        Tick("binance", "BTCUSDT", T0, "trade", "1", "1", "-1")
    with pytest.raises(RecordError, match="side"):
        Tick("binance", "BTCUSDT", T0, "trade", "1", "1", side="long")
    with pytest.raises(RecordError, match="trade_id"):
        Tick("binance", "BTCUSDT", T0, "trade", "", "1")
    with pytest.raises(RecordError, match="not a number"):
        Tick("binance", "BTCUSDT", T0, "trade", "1", "abc")
    with pytest.raises(RecordError, match="out of range"):
        Tick("binance", "BTCUSDT", T0, "trade", "1", "1E+200000")
    with pytest.raises(RecordError, match="finite"):
        Tick("binance", "BTCUSDT", T0, "trade", "1", "NaN")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42000.01000000", "42000.01"),
        ("100.000", "100"),
        ("0.00000000", "0"),
        ("-0.0", "0"),
        ("0.00000001", "0.00000001"),
        ("1e5", "100000"),
        (" 5 ", "5"),
    ],
)
def test_decimal_text_forms(text: str, expected: str) -> None:
    value = bar(volume=text.strip().lstrip("-") if text.startswith("-") else text).volume
    assert value == Decimal(expected)
    assert format(value, "f") == format(Decimal(expected), "f")


@pytest.mark.parametrize("text", ["-", ".", "1.2.3", "", "²", "1,5"])
def test_malformed_decimal_text_is_a_record_error(text: str) -> None:
    with pytest.raises(RecordError):
        bar(volume=text)


def test_bars_from_checked_equal_the_checked_constructor() -> None:
    checked = bar(quote_volume="7.5", trade_count=3)
    fields = (checked.exchange, checked.symbol, checked.interval, checked.timestamp, checked.open,
              checked.high, checked.low, checked.close, checked.volume, checked.quote_volume, checked.trade_count)  # fmt: skip
    (made,) = bars_from_checked([fields])
    assert made == checked
    assert repr(made) == repr(checked)
    assert hash(made) == hash(checked)
    with pytest.raises(AttributeError):
        made.open = Decimal(1)  # type: ignore[misc]


def test_ticks_from_checked_equal_the_checked_constructor() -> None:
    moment = datetime(2024, 1, 1, 0, 0, 0, 120_000, tzinfo=UTC)
    checked = Tick("binance", "BTCUSDT", moment, "trade", "7", "42000.01000000", "0.00100000", "sell")
    [made] = ticks_from_checked(
        "binance", "trade", [("BTCUSDT", moment, "7", Decimal("42000.01"), Decimal("0.001"), "sell")]
    )
    assert made == checked and hash(made) == hash(checked) and repr(made) == repr(checked)
    assert made.payload is None


def test_decimals_longer_than_the_default_precision_stay_exact() -> None:
    long = "1." + "0" * 40 + "1"
    assert str(to_decimal(long + "000", "price")) == long
    assert str(normalize_decimal(Decimal("123456789012345678901234567890123E+3"))) == (
        "123456789012345678901234567890123000"
    )
