"""The webhook over real HTTP: real uvicorn on loopback, httpx, and PostgreSQL + TimescaleDB."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import Engine, func, select

from mdtool.migrate import head_revision
from mdtool.records import Tick
from mdtool.storage.engine import create_engine
from mdtool.storage.queries import ticks_between
from mdtool.storage.schema import ticks
from mdtool.webhook.options import WebhookOptions
from mdtool.webhook.signature import sign
from tests.webhook.server import KEY, SECRET, WebhookServer, signed

pytestmark = pytest.mark.postgres
PATH = "/webhooks/tradingview"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR = datetime(2199, 1, 1, tzinfo=UTC)


def post(client: httpx.Client, document: object) -> httpx.Response:
    body = json.dumps(document).encode()
    return client.post(PATH, content=body, headers=signed(body))


def stored(db: Engine, symbol: str, exchange: str = "TradingView") -> list[Tick]:
    return ticks_between(db, exchange, symbol, EPOCH, FAR)


def count(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ticks)).scalar_one())


def test_health_reports_database_and_schema(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "schema": head_revision()}
    assert client.get("/health/live").json() == {"status": "ok"}


def test_health_is_503_when_the_schema_is_not_at_head(pg_empty_url: str) -> None:
    with WebhookServer(pg_empty_url) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        response = http.get("/health")
        assert http.get("/health/live").status_code == 200
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "mdtool migrate" in response.json()["reason"]


def test_signed_alert_is_stored_exactly_before_200(client: httpx.Client, db: Engine) -> None:
    body = b'{"ticker": "STORE1", "close": 42000.01000000, "volume": "1.50", "time": "2024-05-01T10:00:00Z"}'
    response = client.post(PATH, content=body, headers=signed(body))
    assert response.status_code == 200
    trade_id = hashlib.sha256(body).hexdigest()
    assert response.json() == {"status": "stored", "trade_id": trade_id}
    [tick] = stored(db, "STORE1")  # committed: visible from another connection right after the 200
    assert (tick.price, tick.size, tick.source, tick.trade_id) == (
        Decimal("42000.01"), Decimal("1.5"), "TradingView", trade_id,
    )  # fmt: skip
    assert tick.timestamp == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert tick.payload == {
        "ticker": "STORE1",
        "close": 42000.01,
        "volume": "1.50",
        "time": "2024-05-01T10:00:00Z",
    }


def test_sha256_prefix_and_exchange(client: httpx.Client, db: Engine) -> None:
    body = b'{"symbol": "PREFIX1", "price": "7", "exchange": "BINANCE", "id": "a1"}'
    response = client.post(PATH, content=body, headers={"X-Signature": "sha256=" + sign(KEY, body)})
    assert response.status_code == 200
    assert [t.trade_id for t in stored(db, "PREFIX1", "BINANCE")] == ["a1"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Signature": "0" * 64}, {"X-Signature": "sha256=nothex"}, {"X-Signature": SECRET}],
)
def test_missing_or_wrong_signature_is_401_and_stores_nothing(
    client: httpx.Client, db: Engine, headers: dict[str, str]
) -> None:
    before = count(db)
    body = b'{"ticker": "UNSIGNED", "close": 1}'
    response = client.post(PATH, content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["field"] == "X-Signature"
    assert count(db) == before


def test_signature_covers_the_raw_body(client: httpx.Client, db: Engine) -> None:
    body = b'{"ticker": "RAW1", "close": 1}'
    response = client.post(PATH, content=body.replace(b": ", b":"), headers=signed(body))
    assert response.status_code == 401
    assert stored(db, "RAW1") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (b'{"close": 1}', "ticker"),
        (b'{"ticker": "BAD1"}', "close"),
        (b'{"ticker": "BAD1", "close": "1,5"}', "close"),
        (b'{"ticker": "BAD1", "close": 1, "time": "tomorrow"}', "time"),
        (b'{"ticker": "BAD1", "close": 1, "volume": -2}', "volume"),
    ],
)
def test_invalid_alert_is_400_naming_the_field(
    client: httpx.Client, db: Engine, body: bytes, field: str
) -> None:
    response = client.post(PATH, content=body, headers=signed(body))
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert field in response.json()["error"]
    assert stored(db, "BAD1") == []


def test_body_over_the_limit_is_413_by_content_length_and_by_counting(webhook_db: str) -> None:
    with WebhookServer(webhook_db, WebhookOptions(max_body=100)) as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            small = b'{"ticker": "LIMIT1", "close": 1, "pad": "' + b"x" * 50 + b'"}'
            assert http.post(PATH, content=small, headers=signed(small)).status_code == 200
            big = b'{"ticker": "LIMIT1", "close": 2, "pad": "' + b"x" * 100 + b'"}'
            declared = http.post(PATH, content=big, headers=signed(big))
            assert declared.status_code == 413
            assert declared.json()["field"] == "body"

            def chunks() -> Iterator[bytes]:  # chunked transfer: no Content-Length to trust
                yield big[:60]
                yield big[60:]

            streamed = http.post(PATH, content=chunks(), headers=signed(big))
            assert streamed.status_code == 413
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            assert http.get("/health/live").status_code == 200


def test_retried_alert_is_stored_once(client: httpx.Client, db: Engine) -> None:
    with_id = {"ticker": "RETRY1", "close": 1, "id": "same-alert", "time": 1_714_557_600}
    without_time = {"ticker": "RETRY2", "close": "2.5"}
    for _ in range(3):
        assert post(client, with_id).status_code == 200
        assert post(client, without_time).status_code == 200
    assert len(stored(db, "RETRY1")) == 1
    assert len(stored(db, "RETRY2")) == 1


def test_untimed_alert_retried_on_another_worker_is_stored_once(
    client: httpx.Client, webhook_db: str, db: Engine
) -> None:
    body = b'{"ticker": "RETRY3", "close": 3}'
    assert client.post(PATH, content=body, headers=signed(body)).status_code == 200
    with WebhookServer(webhook_db) as other, httpx.Client(base_url=other.base_url, timeout=10) as http:
        assert http.post(PATH, content=body, headers=signed(body)).status_code == 200
    assert len(stored(db, "RETRY3")) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01T12:00:00Z", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        ("2024-03-01T14:00:00+02:00", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        (1_709_294_400, datetime(2024, 3, 1, 12, tzinfo=UTC)),
        (1_709_294_400_250, datetime(2024, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        ("1709294400.5", datetime(2024, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_timestamp_forms_are_stored_in_utc(
    client: httpx.Client, db: Engine, value: object, expected: datetime
) -> None:
    symbol = f"TIME{abs(hash(str(value))) % 10**8}"
    assert post(client, {"ticker": symbol, "close": 1, "time": value}).status_code == 200
    assert [t.timestamp for t in stored(db, symbol)] == [expected]


def test_without_time_the_receipt_time_is_used(client: httpx.Client, db: Engine) -> None:
    before = datetime.now(UTC)
    assert post(client, {"ticker": "NOW1", "close": 1}).status_code == 200
    [tick] = stored(db, "NOW1")
    assert before <= tick.timestamp <= datetime.now(UTC) + timedelta(seconds=1)


def test_unknown_path_and_method_answer_json(client: httpx.Client) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == "Not Found"
    wrong = client.get(PATH)
    assert wrong.status_code == 405
    assert "POST" in wrong.headers["allow"]


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "mdtool.webhook.access"]


def test_access_log_has_request_id_signature_and_latency_but_no_secret_or_body(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"ticker": "LOG1", "close": 1, "secret_note": "do-not-log-me"}'
    with caplog.at_level(logging.INFO, logger="mdtool.webhook.access"):
        good = client.post(PATH, content=body, headers={**signed(body), "X-Request-ID": "req-42"})
        bad = client.post(PATH, content=body, headers={"X-Signature": "f" * 64})
        # The server thread logs after the response is sent: wait (bounded) for both lines.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(_access_lines(caplog)) < 2:
            time.sleep(0.01)
    assert good.headers["x-request-id"] == "req-42"
    assert bad.json()["request_id"] == bad.headers["x-request-id"]
    lines = _access_lines(caplog)
    assert any(line.startswith("req-42 POST /webhooks/tradingview 200 signature=valid") for line in lines)
    assert any(
        f"{bad.headers['x-request-id']} POST" in line and " 401 signature=invalid" in line for line in lines
    )
    assert all(line.split()[-2].endswith("ms") for line in lines)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "do-not-log-me" not in text
    assert SECRET not in text
    assert sign(KEY, body) not in text


def test_constant_id_without_time_does_not_swallow_later_alerts(client: httpx.Client, db: Engine) -> None:
    assert post(client, {"ticker": "CONST1", "close": 1, "id": "static"}).status_code == 200
    assert post(client, {"ticker": "CONST1", "close": 2, "id": "static"}).status_code == 200
    assert sorted(t.price for t in stored(db, "CONST1")) == [1, 2]


def test_sqlite_backend_stores_alerts_exactly(sqlite_url: str) -> None:
    body = b'{"ticker": "LITE1", "close": "0.00012300", "volume": 5, "time": "2024-01-01T00:00:00.000001Z"}'
    with WebhookServer(sqlite_url) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        assert http.get("/health").status_code == 200
        assert http.post(PATH, content=body, headers=signed(body)).status_code == 200
        assert http.post(PATH, content=body, headers=signed(body)).status_code == 200
    engine = create_engine(sqlite_url)
    try:
        [tick] = stored(engine, "LITE1")
    finally:
        engine.dispose()
    assert (tick.price, tick.size) == (Decimal("0.000123"), Decimal(5))
    assert tick.timestamp == datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
