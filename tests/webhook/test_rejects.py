"""Authenticated alerts that fail validation are kept in `market_data_webhook_rejects`; others never are."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from mdtool.storage.engine import create_engine
from mdtool.storage.schema import webhook_rejects
from mdtool.webhook.auth import Auth, AuthMode
from tests.webhook.server import WebhookServer, signed
from tests.webhook.test_app import stored

PATH = "/webhooks/tradingview"
PASSPHRASE = "reject-test-passphrase-0001"


def reject_rows(db: Engine, request_id: str) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(select(webhook_rejects).where(webhook_rejects.c.request_id == request_id))
        return [dict(row._mapping) for row in rows]


@pytest.fixture(scope="module")
def passphrase_client(webhook_db: str) -> Iterator[httpx.Client]:
    auth = Auth(frozenset({AuthMode.PASSPHRASE}), passphrase=PASSPHRASE.encode())
    with WebhookServer(webhook_db, auth=auth) as server, httpx.Client(base_url=server.base_url) as http:
        yield http


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        (b"BTCUSDT crossed 64000", "text/plain; charset=utf-8", "body"),
        (b'{"ticker": "REJ1", "close": "{{close}}"}', "application/json", "close"),
        (b'{"ticker": "REJ1", "close": 1, "timenow": "{{timenow}}"}', "text/plain", "timenow"),
        (b'{"ticker": "REJ1"}', None, "close"),
        (b'\xff\xfe{"x": "\x00"}', "text/plain", "body"),
    ],
)
def test_authenticated_invalid_alert_is_400_and_kept(
    client: httpx.Client, db: Engine, body: bytes, content_type: str | None, field: str
) -> None:
    headers = signed(body)
    if content_type is None:
        del headers["Content-Type"]
    else:
        headers["Content-Type"] = content_type
    response = client.post(PATH, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["field"] == field
    request_id = response.json()["request_id"]
    [row] = reject_rows(db, request_id)
    assert (row["status_code"], row["field"], row["content_type"]) == (400, field, content_type)
    assert row["reason"] == response.json()["error"]
    assert row["body"] == body.decode("utf-8", "replace").replace("\x00", "\ufffd")
    assert row["received_at"].tzinfo is not None
    assert stored(db, "REJ1") == []


@pytest.mark.postgres
def test_unauthenticated_requests_are_never_kept(client: httpx.Client, db: Engine) -> None:
    body = b'{"ticker": "REJ2", "close": "{{close}}"}'
    response = client.post(PATH, content=body, headers={"X-Signature": "0" * 64})
    assert response.status_code == 401
    assert reject_rows(db, response.json()["request_id"]) == []


@pytest.mark.postgres
def test_a_repeated_request_id_is_kept_once(client: httpx.Client, db: Engine) -> None:
    body = b'{"ticker": "REJ3"}'
    for _ in range(2):
        response = client.post(PATH, content=body, headers={**signed(body), "X-Request-ID": "proxy-id-7"})
        assert response.status_code == 400
    assert len(reject_rows(db, "proxy-id-7")) == 1


@pytest.mark.postgres
def test_passphrase_never_stored_in_rejects_or_ticks(passphrase_client: httpx.Client, db: Engine) -> None:
    bad = json.dumps({"ticker": "REJ4", "close": "{{close}}", "passphrase": PASSPHRASE, "note": "n"})
    response = passphrase_client.post(PATH, content=bad, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    [row] = reject_rows(db, response.json()["request_id"])
    assert json.loads(row["body"]) == {"ticker": "REJ4", "close": "{{close}}", "note": "n"}
    good = json.dumps({"ticker": "REJ4", "close": 3, "passphrase": PASSPHRASE})
    assert passphrase_client.post(PATH, content=good).status_code == 200
    [tick] = stored(db, "REJ4")
    assert tick.payload == {"ticker": "REJ4", "close": 3}
    assert PASSPHRASE not in str(tick.trade_id)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"plain text alert", 400, "body"),  # cannot carry the passphrase: unauthenticated
        (b'{"ticker": "REJ5", "close": "{{close}}"}', 401, "passphrase"),
        (b'{"ticker": "REJ5", "close": "{{close}}", "passphrase": "guess-guess-guess"}', 401, "passphrase"),
    ],
)
def test_passphrase_mode_keeps_nothing_unauthenticated(
    passphrase_client: httpx.Client, db: Engine, body: bytes, status: int, field: str
) -> None:
    response = passphrase_client.post(PATH, content=body, headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.json()["field"]) == (status, field)
    assert reject_rows(db, response.json()["request_id"]) == []


def test_rejects_on_sqlite(sqlite_url: str) -> None:
    body = b'{"ticker": "REJ6", "close": "{{close}}"}'
    with WebhookServer(sqlite_url) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        response = http.post(PATH, content=body, headers=signed(body))
    assert response.status_code == 400
    engine = create_engine(sqlite_url)
    try:
        [row] = reject_rows(engine, response.json()["request_id"])
    finally:
        engine.dispose()
    assert (row["field"], row["body"]) == ("close", body.decode())
