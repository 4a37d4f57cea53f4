"""TradingView's client certificate over a real TLS handshake: real uvicorn, certificates made here."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from mdtool.errors import ConfigError
from mdtool.webhook.auth import Auth, AuthMode
from mdtool.webhook.tls import TRADINGVIEW_EMAIL, TRADINGVIEW_SUBJECT, TlsFiles, subject_problem
from tests.webhook.certs import Pki, client_for, tls_for
from tests.webhook.server import WebhookServer
from tests.webhook.test_app import stored

PATH = "/webhooks/tradingview"
TLS_ONLY = Auth(frozenset({AuthMode.TLS_CLIENT_CERT}))


def alert(symbol: str) -> bytes:
    return json.dumps({"ticker": symbol, "close": "1.5", "time": "2024-05-01T10:00:00Z"}).encode()


def refusal_lines(caplog: pytest.LogCaptureFixture, count: int) -> list[str]:
    """The refusal lines the server's event loop thread writes (bounded wait, it logs asynchronously)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [r.getMessage() for r in caplog.records if "TLS handshake refused" in r.getMessage()]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.01)


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def tls_server(request: pytest.FixtureRequest, webhook_db: str, pki: Pki) -> Iterator[WebhookServer]:
    """Both event loops: the check relies on each SSL transport calling `do_handshake` on our object."""
    with WebhookServer(webhook_db, auth=TLS_ONLY, tls=tls_for(pki), loop=request.param) as server:
        yield server


@pytest.mark.postgres
def test_tradingview_certificate_is_accepted(tls_server: WebhookServer, pki: Pki, db: Engine) -> None:
    symbol = f"TLSOK{tls_server.base_url[-5:]}"
    with client_for(tls_server, pki, pki.tradingview.as_httpx) as http:
        response = http.post(PATH, content=alert(symbol), headers={"Content-Type": "application/json"})
        assert http.get("/health").status_code == 200
    assert response.status_code == 200
    assert len(stored(db, symbol)) == 1


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("which", "reason"),
    [
        (None, "no client certificate presented"),
        ("other", "client certificate subject (countryName=US, organizationName=Someone Else LLC"),
        ("no_email", f"no subject alternative name email:{TRADINGVIEW_EMAIL}"),
        ("foreign", "certificate verify failed: unable to get local issuer certificate"),
    ],
)
def test_wrong_or_missing_certificate_is_refused_in_the_handshake_and_logged(
    tls_server: WebhookServer,
    pki: Pki,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
    which: str | None,
    reason: str,
) -> None:
    cert = None if which is None else getattr(pki, which).as_httpx
    symbol = f"TLSNO{which}"
    with caplog.at_level(logging.WARNING, logger="mdtool.webhook.tls"):
        with client_for(tls_server, pki, cert) as http, pytest.raises(httpx.TransportError):
            http.post(PATH, content=alert(symbol), headers={"Content-Type": "application/json"})
        lines = refusal_lines(caplog, 1)
    assert any(reason in line for line in lines), lines
    assert stored(db, symbol) == []


def test_subject_check_is_exact_per_attribute() -> None:
    subject = tuple(((name, value),) for name, value in TRADINGVIEW_SUBJECT)
    good = {"subject": subject, "subjectAltName": (("email", TRADINGVIEW_EMAIL),)}
    assert subject_problem(good) is None
    with_extra = {**good, "subject": (*subject, (("organizationalUnitName", "Ops"),))}
    assert subject_problem(with_extra) is None
    doubled = {**good, "subject": (*subject, (("commonName", "Evil"),))}
    assert subject_problem(doubled) is not None
    near = {**good, "subject": tuple(((n, v.lower()),) for n, v in TRADINGVIEW_SUBJECT)}
    assert subject_problem(near) is not None
    assert subject_problem({"subject": subject}) is not None
    assert subject_problem({}) is not None


@pytest.mark.postgres
@pytest.mark.parametrize("checking", [None, False], ids=["plain-http", "https-without-client-check"])
def test_tls_mode_refuses_to_start_without_the_checking_context(
    webhook_db: str, pki: Pki, caplog: pytest.LogCaptureFixture, checking: bool | None
) -> None:
    """An app in tls-client-cert mode under a server that does not check certificates would trust anyone."""
    tls = None if checking is None else tls_for(pki, check_client=checking)
    with (
        pytest.raises(RuntimeError, match="uvicorn did not start"),
        WebhookServer(webhook_db, auth=TLS_ONLY, tls=tls),
    ):
        pass
    assert "this server does not check client certificates" in caplog.text


@pytest.mark.postgres
def test_https_without_client_certificates_for_other_modes(webhook_db: str, pki: Pki, db: Engine) -> None:
    """HTTPS for hmac/passphrase deployments: no client certificate asked for."""
    auth = Auth(frozenset({AuthMode.PASSPHRASE}), passphrase=b"correct horse battery staple")
    body = json.dumps({"ticker": "TLSPASS", "close": 2, "passphrase": "correct horse battery staple"})
    server = WebhookServer(webhook_db, auth=auth, tls=tls_for(pki, check_client=False))
    with server, client_for(server, pki, None) as http:
        assert http.post(PATH, content=body).status_code == 200
    assert len(stored(db, "TLSPASS")) == 1


def test_unreadable_files_are_config_errors_naming_them(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(ConfigError, match=r"missing\.pem"):
        TlsFiles(missing, pki.server.key).context()
    with pytest.raises(ConfigError, match=r"CA bundle .*missing\.pem"):
        TlsFiles(pki.server.cert, pki.server.key, missing, check_client=True).context()
    with pytest.raises(ConfigError, match=r"server\.pem"):
        TlsFiles(pki.server.cert, pki.tradingview.key).context()  # key of another certificate
