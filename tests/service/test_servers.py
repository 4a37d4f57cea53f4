"""`[webhook]` and `[dtc]` run the existing servers inside `mdtool run`, counted in the metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mdtool.config import load_settings
from mdtool.service.config import load_config
from mdtool.service.listing import resolve_symbols
from mdtool.service.metrics import MetricsServer
from mdtool.service.supervisor import Supervisor
from mdtool.storage.engine import create_engine
from tests.dtc import client as dtc
from tests.pg_cluster import free_port
from tests.service.helpers import metric_value, scalar, scrape
from tests.waiting import wait_for
from tests.webhook.server import SECRET, signed


@pytest.fixture
def supervisor(pg_url: str, tmp_path: Path) -> Iterator[Supervisor]:
    settings = load_settings(
        {"MARKET_DATA_DATABASE_URL": pg_url, "TRADINGVIEW_HMAC_SECRET": SECRET}, env_file=tmp_path / "no.env"
    )
    engine = create_engine(pg_url)
    running = Supervisor(settings, engine, lambda job: resolve_symbols(settings, job.venue, job.selection))
    yield running
    running.stop()
    engine.dispose()


def test_webhook_and_dtc_run_in_process(supervisor: Supervisor, pg_url: str, tmp_path: Path) -> None:
    webhook_port, dtc_port = free_port(), free_port()
    path = tmp_path / "mdtool.toml"
    path.write_text(
        f'[webhook]\nlisten = "127.0.0.1:{webhook_port}"\n\n[dtc]\nlisten = "127.0.0.1:{dtc_port}"\n'
    )
    supervisor.apply(load_config(path))
    metrics = MetricsServer(supervisor)
    port = metrics.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{webhook_port}"
    try:
        wait_for(lambda: _answers(base), what="the webhook")
        body = b'{"ticker": "SERVICE1", "close": 1}'
        assert (
            httpx.post(base + "/webhooks/tradingview", content=body, headers=signed(body)).status_code == 200
        )
        assert (
            httpx.post(
                base + "/webhooks/tradingview", content=body, headers={"X-Signature": "0" * 64}
            ).status_code
            == 401
        )
        assert scalar(pg_url, "SELECT count(*) FROM market_data_ticks WHERE symbol = 'SERVICE1'") == 1

        wait_for(lambda: metric_value(scrape(port), "mdtool_dtc_up") == 1, what="the DTC server")
        client = dtc.DtcClient("127.0.0.1", dtc_port)
        try:
            client.send(dtc.logon_request())
            assert client.expect(2)["Result"] == 1
        finally:
            client.close()

        body_text = scrape(port)
        assert metric_value(body_text, "mdtool_dtc_clients_accepted_total") == 1
        assert metric_value(body_text, "mdtool_dtc_messages_sent_total") >= 1  # the logon response
        assert metric_value(body_text, "mdtool_webhook_alerts_total", status="200") == 1
        assert metric_value(body_text, "mdtool_webhook_alerts_total", status="401") == 1
    finally:
        metrics.stop()
    supervisor.stop()
    assert metric_value(scrape_registry(metrics), "mdtool_dtc_up") == 0


def scrape_registry(metrics: MetricsServer) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/health/live", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
