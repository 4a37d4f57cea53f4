import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdtool.webhook.alerts import AlertError, parse_alert

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def parse(document: object) -> object:
    return parse_alert(json.dumps(document).encode(), NOW)


def test_minimal_alert_becomes_a_tradingview_tick() -> None:
    body = b'{"ticker": "BTCUSDT", "close": 42000.01000000}'
    alert = parse_alert(body, NOW)
    tick = alert.tick
    assert (tick.exchange, tick.symbol, tick.source) == ("TradingView", "BTCUSDT", "TradingView")
    assert tick.price == Decimal("42000.01")
    assert str(tick.price) == "42000.01"
    assert tick.size is None
    assert tick.timestamp == NOW
    assert alert.timed is False
    assert tick.trade_id == hashlib.sha256(body).hexdigest()
    assert tick.payload == {"ticker": "BTCUSDT", "close": 42000.01}


def test_full_alert() -> None:
    alert = parse(
        {"symbol": " ETHUSD ", "price": "3000.500", "exchange": "COINBASE", "size": "0.25",
         "time": "2024-01-02T03:04:05.678Z", "id": "alert-7", "note": {"nested": [1, "x"]}}
    )  # fmt: skip
    tick = alert.tick  # type: ignore[attr-defined]
    assert (tick.exchange, tick.symbol, tick.trade_id) == ("COINBASE", "ETHUSD", "alert-7")
    assert (tick.price, tick.size) == (Decimal("3000.5"), Decimal("0.25"))
    assert tick.timestamp == datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert tick.payload["note"] == {"nested": [1, "x"]}


def test_precedence_of_spellings() -> None:
    tick = parse(
        {"ticker": "A", "symbol": "B", "close": 1, "price": 2, "volume": 3, "size": 4,
         "time": 1_700_000_000, "timenow": 1_700_000_001, "timestamp": None}
    ).tick  # type: ignore[attr-defined]  # fmt: skip
    assert (tick.symbol, tick.price, tick.size) == ("A", 1, 3)
    assert tick.timestamp == datetime.fromtimestamp(1_700_000_001, UTC)


def test_integer_alert_id_and_exact_long_decimals() -> None:
    tick = parse_alert(b'{"ticker":"X","close":0.000000012345678901234567890,"id":17}', NOW).tick
    assert tick.trade_id == "17"
    assert tick.price == Decimal("0.00000001234567890123456789")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T05:04:05+02:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02 03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02", datetime(2024, 1, 2, tzinfo=UTC)),
        (1_704_164_645, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (1_704_164_645.25, datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)),
        ("1704164645", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (1_704_164_645_123, datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)),
        ("1704164645123", datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)),
    ],
)
def test_time_forms(value: object, expected: datetime) -> None:
    alert = parse({"ticker": "X", "close": 1, "time": value})
    assert alert.tick.timestamp == expected  # type: ignore[attr-defined]
    assert alert.tick.timestamp.tzinfo is UTC  # type: ignore[attr-defined]
    assert alert.timed is True  # type: ignore[attr-defined]


def test_time_with_an_offset_is_converted_to_utc() -> None:
    zone = timezone(timedelta(hours=-5))
    tick = parse({"ticker": "X", "close": 1, "timenow": datetime(2024, 1, 1, tzinfo=zone).isoformat()}).tick  # type: ignore[attr-defined]
    assert tick.timestamp == datetime(2024, 1, 1, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "body"),
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b'"text"', "body"),
        (b'{"ticker": "X", "close": NaN}', "body"),
        (b'{"ticker": "X", "close": Infinity}', "body"),
        (b"\xff\xfe{}", "body"),
        (b"[" * 100_000, "body"),
        (b'{"close": 1}', "ticker"),
        (b'{"ticker": null, "close": 1}', "ticker"),
        (b'{"ticker": "X"}', "close"),
        (b'{"ticker": "", "close": 1}', "ticker"),
        (b'{"ticker": 5, "close": 1}', "ticker"),
        (b'{"ticker": "' + b"A" * 129 + b'", "close": 1}', "ticker"),
        (b'{"ticker": "A\\nB", "close": 1}', "ticker"),
        (b'{"ticker": "A\\u0000", "close": 1}', "ticker"),
        (b'{"ticker": "X", "close": "abc"}', "close"),
        (b'{"ticker": "X", "close": "1_000"}', "close"),
        (b'{"ticker": "X", "close": "NaN"}', "close"),
        (b'{"ticker": "X", "close": true}', "close"),
        (b'{"ticker": "X", "close": [1]}', "close"),
        (b'{"ticker": "X", "close": 1e28}', "close"),
        (b'{"ticker": "X", "close": 1e-31}', "close"),
        (b'{"ticker": "X", "close": 1.00000000000000000000000000001}', "close"),
        (b'{"ticker": "X", "price": "1e999999999"}', "price"),
        (b'{"ticker": "X", "close": 1, "volume": -1}', "volume"),
        (b'{"ticker": "X", "close": 1, "size": "x"}', "size"),
        (b'{"ticker": "X", "close": 1, "exchange": ""}', "exchange"),
        (b'{"ticker": "X", "close": 1, "exchange": 1}', "exchange"),
        (b'{"ticker": "X", "close": 1, "id": ""}', "id"),
        (b'{"ticker": "X", "close": 1, "id": 1.5}', "id"),
        (b'{"ticker": "X", "close": 1, "id": false}', "id"),
        (b'{"ticker": "X", "close": 1, "time": "yesterday"}', "time"),
        (b'{"ticker": "X", "close": 1, "time": -1}', "time"),
        (b'{"ticker": "X", "close": 1, "time": "1969-12-31T23:59:59Z"}', "time"),
        (b'{"ticker": "X", "close": 1, "timenow": "2200-01-01T00:00:00Z"}', "timenow"),
        (b'{"ticker": "X", "close": 1, "timestamp": 1e30}', "timestamp"),
        (b'{"ticker": "X", "close": 1, "time": "9999-12-31T23:59:59-14:00"}', "time"),
        (b'{"ticker": "X", "close": 1, "time": {}}', "time"),
        (b'{"ticker": "X", "close": 1, "note": "\\ud800"}', "note"),
        (b'{"ticker": "X", "close": 1, "note": {"a": "\\u0000"}}', "note"),
        (b'{"ticker": "X", "close": 1, "note": 1e400}', "note"),
        (b'{"ticker": "X", "close": 1, "deep": ' + b"[" * 40 + b"]" * 40 + b"}", "deep"),
    ],
)
def test_refusals_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(AlertError) as caught:
        parse_alert(body, NOW)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert "\n" not in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300)
    | st.from_regex(rb'\{"ticker": ?"[^"]{0,10}", ?"close": ?[^,}]{0,20}(, ?.{0,40})?\}')
)
def test_random_bytes_parse_or_fail_with_alert_error(body: bytes) -> None:
    try:
        alert = parse_alert(body, NOW)
    except AlertError:
        return
    assert alert.tick.price.is_finite()
    json.dumps(alert.tick.payload)  # storable as JSON, no Decimal left


# --- What TradingView's placeholders render -------------------------------------------------------


def test_a_typical_tradingview_template_as_rendered() -> None:
    body = (
        b'{"ticker": "BINANCE:BTCUSDT", "close": "64123.5", "volume": "12.75", "interval": "15",'
        b' "time": "2024-05-01T10:00:00Z", "timenow": "2024-05-01T10:15:02Z"}'
    )
    tick = parse_alert(body, NOW).tick
    assert (tick.exchange, tick.symbol) == ("BINANCE", "BTCUSDT")
    assert (tick.price, tick.size) == (Decimal("64123.5"), Decimal("12.75"))
    assert tick.timestamp == datetime(2024, 5, 1, 10, 15, 2, tzinfo=UTC)
    assert tick.payload["interval"] == "15"  # type: ignore[index]


@pytest.mark.parametrize(
    ("document", "exchange", "symbol"),
    [
        ({"ticker": "NASDAQ:AAPL", "exchange": "NASDAQ", "close": 1}, "NASDAQ", "AAPL"),
        ({"ticker": "nasdaq:AAPL", "exchange": "NASDAQ", "close": 1}, "NASDAQ", "AAPL"),
        ({"ticker": "CME_MINI:ES1!", "close": 1}, "CME_MINI", "ES1!"),
        ({"ticker": "AAPL", "exchange": "NASDAQ", "close": 1}, "NASDAQ", "AAPL"),
        ({"ticker": ":AAPL", "close": 1}, "TradingView", ":AAPL"),
        ({"ticker": "A:B:C", "close": 1}, "TradingView", "A:B:C"),
    ],
)
def test_exchange_prefixed_symbols(document: dict[str, object], exchange: str, symbol: str) -> None:
    tick = parse(document).tick  # type: ignore[attr-defined]
    assert (tick.exchange, tick.symbol) == (exchange, symbol)


def test_prefix_and_exchange_field_must_agree() -> None:
    with pytest.raises(AlertError, match="names exchange 'NYSE'") as caught:
        parse({"ticker": "NYSE:IBM", "exchange": "NASDAQ", "close": 1})
    assert caught.value.field == "ticker"


@pytest.mark.parametrize(
    "field", ["ticker", "symbol", "close", "price", "volume", "time", "timenow", "exchange", "id", "interval"]
)
def test_unfilled_placeholder_is_refused_naming_the_field(field: str) -> None:
    document: dict[str, object] = {"ticker": "X", "close": 1, field: "{{" + field + "}}"}
    with pytest.raises(AlertError, match="unfilled TradingView placeholder") as caught:
        parse(document)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_placeholders_in_other_fields_are_kept_as_sent() -> None:
    tick = parse({"ticker": "X", "close": 1, "note": "{{strategy.order.comment}}"}).tick  # type: ignore[attr-defined]
    assert tick.payload["note"] == "{{strategy.order.comment}}"


def test_volume_nan_means_no_size_but_close_nan_is_refused() -> None:
    assert parse({"ticker": "X", "close": 1, "volume": "NaN"}).tick.size is None  # type: ignore[attr-defined]
    with pytest.raises(AlertError) as caught:
        parse({"ticker": "X", "close": "NaN"})
    assert caught.value.field == "close"


def test_plain_text_body_names_the_problem() -> None:
    with pytest.raises(AlertError, match=r"not valid JSON.*text/plain") as caught:
        parse_alert(b"BTCUSDT crossing 64000", NOW)
    assert caught.value.field == "body"
