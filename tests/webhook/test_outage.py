"""Database stopped mid-run: 503 (alert kept), then recovery without restarting the service."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from mdtool.migrate import upgrade
from mdtool.storage.engine import create_engine
from mdtool.storage.queries import ticks_between
from tests.pg_cluster import PostgresCluster
from tests.webhook.server import WebhookServer, signed

pytestmark = pytest.mark.postgres
PATH = "/webhooks/tradingview"


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A private cluster: stopping the shared session cluster would break every other test."""
    cluster = PostgresCluster()
    try:
        yield cluster
    finally:
        cluster.destroy()


def until(deadline_s: float, attempt: object) -> httpx.Response:
    """Call `attempt` until it answers 200, for at most `deadline_s` seconds (the sender's retries)."""
    deadline = time.monotonic() + deadline_s
    while True:
        response: httpx.Response = attempt()  # type: ignore[operator]
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_database_down_gives_503_then_recovers_without_restart(own_cluster: PostgresCluster) -> None:
    url = own_cluster.create_database("outage")
    upgrade(url)
    down_body = json.dumps({"ticker": "OUTAGE", "close": "2", "id": "during", "time": 1_700_000_001}).encode()
    with WebhookServer(url) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        before = json.dumps(
            {"ticker": "OUTAGE", "close": "1", "id": "before", "time": 1_700_000_000}
        ).encode()
        assert http.post(PATH, content=before, headers=signed(before)).status_code == 200

        own_cluster.stop()
        started = time.monotonic()
        refused = http.post(PATH, content=down_body, headers=signed(down_body))
        assert refused.status_code == 503
        assert refused.json()["field"] == "database"
        assert refused.headers["retry-after"] == "5"
        assert time.monotonic() - started < 5
        assert http.get("/health").status_code == 503
        invalid = b'{"ticker": "OUTAGE", "close": "{{close}}"}'
        unrecorded = http.post(PATH, content=invalid, headers=signed(invalid))
        assert unrecorded.status_code == 503  # the refusal could not be kept: the sender should retry
        assert unrecorded.json()["field"] == "database"
        assert "close: unfilled" in unrecorded.json()["error"]
        assert http.get("/health/live").status_code == 200

        own_cluster.start()
        health = until(30, lambda: http.get("/health"))
        assert health.status_code == 200
        retried = until(30, lambda: http.post(PATH, content=down_body, headers=signed(down_body)))
        assert retried.status_code == 200

    engine = create_engine(url)
    try:
        stored = ticks_between(
            engine, "TradingView", "OUTAGE", datetime(2023, 1, 1, tzinfo=UTC), datetime.now(UTC)
        )
    finally:
        engine.dispose()
    assert [t.trade_id for t in stored] == ["before", "during"]
