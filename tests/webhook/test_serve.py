"""`run_serve_webhook`: refuses a bad configuration with a usage error; serves and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mdtool.cli.serve_webhook import run_serve_webhook
from mdtool.errors import UsageError
from mdtool.webhook import AlertCounts, Auth, AuthMode, create_app, webhook_server
from tests.pg_cluster import free_port
from tests.webhook.certs import Pki, client_for_url, tls_for
from tests.webhook.server import SECRET, settings_for, signed


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
        deadline = time.monotonic() + 60  # importing the whole CLI takes seconds on a loaded machine
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


@pytest.mark.parametrize(
    ("environ", "options", "message"),
    [
        ({"MDTOOL_WEBHOOK_AUTH": "tls-client-cert"}, {}, "tls-client-cert needs HTTPS"),
        (
            {"TRADINGVIEW_HMAC_SECRET": SECRET},
            {"ssl_keyfile": Path("k.pem")},
            "--ssl-keyfile needs --ssl-certfile",
        ),
        ({"TRADINGVIEW_HMAC_SECRET": SECRET}, {"ssl_ca_certs": Path("ca.pem")}, "--ssl-ca-certs needs"),
        ({"MDTOOL_WEBHOOK_AUTH": "ip-allowlist"}, {}, "ip-allowlist alone"),
    ],
)
def test_refuses_inconsistent_tls_or_modes(
    environ: dict[str, str],
    options: dict[str, Path],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TRADINGVIEW_HMAC_SECRET", "MDTOOL_WEBHOOK_AUTH", "TRADINGVIEW_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UsageError, match=message):
        run_serve_webhook("127.0.0.1", free_port(), 1, **options)


def test_ca_bundle_without_client_certificate_mode_is_refused(
    pki: Pki, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MDTOOL_WEBHOOK_AUTH", raising=False)
    monkeypatch.setenv("TRADINGVIEW_HMAC_SECRET", SECRET)
    with pytest.raises(UsageError, match="add tls-client-cert to MDTOOL_WEBHOOK_AUTH"):
        run_serve_webhook("127.0.0.1", free_port(), 1, pki.server.cert, pki.server.key, pki.ca)
    with pytest.raises(UsageError, match=r"cannot load the TLS certificate and key \(.*nope\.pem"):
        run_serve_webhook("127.0.0.1", free_port(), 1, tmp_path / "nope.pem")


@pytest.mark.postgres
@pytest.mark.timeout(300)  # three interpreters importing the CLI on a loaded machine
def test_serves_tradingview_over_tls_with_two_workers(pg_url: str, pki: Pki, tmp_path: Path) -> None:
    """The command as users run it: TLS files from the environment, worker processes built by spawn."""
    port = free_port()
    env = {
        **os.environ,
        "MARKET_DATA_DATABASE_URL": pg_url,
        "MDTOOL_WEBHOOK_AUTH": "tls-client-cert,passphrase",
        "TRADINGVIEW_PASSPHRASE": "serve-test-passphrase-01",
        "MDTOOL_WEBHOOK_SSL_CERTFILE": str(pki.server.cert),
        "MDTOOL_WEBHOOK_SSL_KEYFILE": str(pki.server.key),
        "MDTOOL_WEBHOOK_SSL_CA_CERTS": str(pki.ca),
    }
    code = f"import sys; from mdtool.cli.serve_webhook import run_serve_webhook; sys.exit(run_serve_webhook('127.0.0.1', {port}, 2))"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"https://127.0.0.1:{port}"
    body = b'{"ticker": "SERVE2", "close": 2, "passphrase": "serve-test-passphrase-01"}'
    try:
        with client_for_url(base, pki, pki.tradingview.as_httpx) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None and time.monotonic() < deadline, "server did not come up"
                time.sleep(0.05)
            assert http.post("/webhooks/tradingview", content=body).status_code == 200
        with client_for_url(base, pki, pki.other.as_httpx) as http, pytest.raises(httpx.TransportError):
            http.post("/webhooks/tradingview", content=body)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "authentication: tls-client-cert+passphrase" in output
    assert "TLS handshake refused: client certificate subject" in output
    assert "serve-test-passphrase-01" not in output


@pytest.mark.postgres
def test_webhook_server_runs_in_the_callers_event_loop(webhook_db: str, pki: Pki) -> None:
    """The library path `mdtool run` uses: its own loop, its own app, counts read for metrics."""
    counts = AlertCounts()
    auth = Auth(
        frozenset({AuthMode.TLS_CLIENT_CERT, AuthMode.PASSPHRASE}), passphrase=b"library-passphrase-0001"
    )
    app = create_app(settings_for(webhook_db), auth=auth, counts=counts)
    port = free_port()
    server = webhook_server(app, "127.0.0.1", port, tls_for(pki))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        with client_for_url(f"https://127.0.0.1:{port}", pki, pki.tradingview.as_httpx) as http:
            deadline = time.monotonic() + 30
            while not server.started:
                assert thread.is_alive() and time.monotonic() < deadline, "server did not come up"
                time.sleep(0.01)
            good = b'{"ticker": "LIB1", "close": 1, "passphrase": "library-passphrase-0001"}'
            assert http.post("/webhooks/tradingview", content=good).status_code == 200
            assert http.post("/webhooks/tradingview", content=b'{"ticker": "LIB1"}').status_code == 401
        with client_for_url(f"https://127.0.0.1:{port}", pki, pki.other.as_httpx) as http:
            with pytest.raises(httpx.TransportError):
                http.post("/webhooks/tradingview", content=good)
            deadline = time.monotonic() + 10  # counted by the server's loop, after the client gave up
            while counts.tls_refused < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        server.should_exit = True
        thread.join(30)
    assert not thread.is_alive()
    assert counts.snapshot() == {200: 1, 401: 1}
    assert counts.tls_refused == 1
    assert app.state.alert_counts is counts
