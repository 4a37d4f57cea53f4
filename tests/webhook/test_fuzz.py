"""Random bodies and signatures against the live service: 200 only when signed and stored; no 5xx."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from mdtool.storage.schema import ticks
from mdtool.webhook.alerts import AlertError, parse_alert
from mdtool.webhook.signature import sign
from tests.webhook.server import KEY

pytestmark = pytest.mark.postgres
PATH = "/webhooks/tradingview"

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
numbers = (
    st.decimals(allow_nan=False, allow_infinity=False).map(str)
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
times = (
    st.integers(min_value=-(10**14), max_value=10**14)
    | st.datetimes(timezones=st.timezones() | st.none()).map(datetime.isoformat)
    | st.text(max_size=25)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def alert_documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for names, values in (
        (("ticker", "symbol"), st.text(min_size=0, max_size=10) | scalars),
        (("close", "price"), numbers),
        (("volume", "size"), numbers),
        (("time", "timenow", "timestamp"), times),
        (("exchange",), st.text(max_size=8) | scalars),
        (("id",), st.uuids().map(str) | st.integers() | scalars),
        (("extra",), json_values),
    ):
        for name in names:
            if draw(st.booleans()):
                document[name] = draw(values)
    return document


plausible_alerts = st.fixed_dictionaries(
    {
        "ticker": st.text(string.ascii_uppercase + string.digits + ":.!", min_size=1, max_size=12),
        "close": st.decimals(min_value=-(10**12), max_value=10**12, places=8).map(str)
        | st.integers(0, 10**9),
    },
    optional={
        "volume": st.decimals(min_value=0, max_value=10**12, places=4),
        "time": st.integers(0, 7_000_000_000)
        | st.datetimes(datetime(1971, 1, 1), datetime(2190, 1, 1), timezones=st.timezones()).map(
            datetime.isoformat
        ),
        "exchange": st.sampled_from(["BINANCE", "NASDAQ", "ÉCHANGE"]),
        "id": st.uuids().map(str),
        "extra": json_values,
    },
)
bodies = st.one_of(
    plausible_alerts.map(lambda d: json.dumps(d, default=str).encode()),
    plausible_alerts.map(lambda d: json.dumps(d, default=float).encode()),
    alert_documents().map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str], bool]:
    body = draw(bodies)
    kind = draw(st.sampled_from(["valid", "valid", "prefixed", "other-body", "random", "missing"]))
    if kind == "valid":
        return body, {"X-Signature": sign(KEY, body)}, True
    if kind == "prefixed":
        return body, {"X-Signature": "sha256=" + sign(KEY, body).upper()}, True
    if kind == "other-body":
        return body, {"X-Signature": sign(KEY, body + b"x")}, False
    if kind == "random":
        return (
            body,
            {"X-Signature": draw(st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=80))},
            False,
        )
    return body, {}, False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request_parts=requests())
def test_fuzz_only_signed_valid_alerts_are_stored_and_nothing_is_5xx(
    client: httpx.Client, db: Engine, request_parts: tuple[bytes, dict[str, str], bool]
) -> None:
    body, headers, validly_signed = request_parts
    response = client.post(PATH, content=body, headers=headers)
    event(f"status {response.status_code}")
    assert response.status_code < 500, response.text
    if not validly_signed:
        assert response.status_code == 401
        return
    try:
        alert = parse_alert(body, datetime.now(UTC))
    except AlertError as error:
        refused_field = error.field
    else:
        refused_field = None
    if refused_field is not None:
        assert response.status_code == 400
        assert response.json()["field"] == refused_field
        return
    assert response.status_code == 200, response.text
    tick = alert.tick
    assert response.json()["trade_id"] == tick.trade_id
    key = [
        ticks.c.exchange == tick.exchange,
        ticks.c.symbol == tick.symbol,
        ticks.c.source == "TradingView",
        ticks.c.trade_id == tick.trade_id,
    ]
    if alert.timed:
        key.append(ticks.c.timestamp == tick.timestamp)
    with db.connect() as conn:
        assert conn.execute(select(ticks.c.price).where(*key)).first() is not None
