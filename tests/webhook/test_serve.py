"""`run_serve_webhook`: refuses a bad configuration with a usage error; serves and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mdtool.cli.serve_webhook import run_serve_webhook
from mdtool.errors import UsageError
from tests.pg_cluster import free_port
from tests.webhook.server import SECRET, signed


@pytest.mark.parametrize("secret", [None, "", "fifteen-bytes!!"])
def test_refuses_to_start_without_a_usable_secret(
    secret: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.delenv("TRADINGVIEW_HMAC_SECRET", raising=False)
    if secret is not None:
        monkeypatch.setenv("TRADINGVIEW_HMAC_SECRET", secret)
    with pytest.raises(UsageError, match="TRADINGVIEW_HMAC_SECRET") as caught:
        run_serve_webhook("127.0.0.1", free_port(), 1)
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("port", "workers"), [(0, 1), (70000, 1), (8000, 0)])
def test_refuses_bad_port_or_workers(port: int, workers: int) -> None:
    with pytest.raises(UsageError):
        run_serve_webhook("127.0.0.1", port, workers)


@pytest.mark.postgres
def test_serves_logs_access_and_exits_0_on_sigterm(pg_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "MARKET_DATA_DATABASE_URL": pg_url, "TRADINGVIEW_HMAC_SECRET": SECRET}
    code = f"import sys; from mdtool.cli.serve_webhook import run_serve_webhook; sys.exit(run_serve_webhook('127.0.0.1', {port}, 1))"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "server did not come up"
            time.sleep(0.05)
        body = b'{"ticker": "SERVE1", "close": 1}'
        assert (
            httpx.post(base + "/webhooks/tradingview", content=body, headers=signed(body)).status_code == 200
        )
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "POST /webhooks/tradingview 200 signature=valid" in output
    assert SECRET not in output
