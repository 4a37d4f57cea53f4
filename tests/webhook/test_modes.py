"""Every combination of authentication modes over real HTTP(S): all credentials pass, each one missing fails.

For each combination of hmac, tls-client-cert and passphrase, with and without the IP allowlist,
one server is started (HTTPS with client-certificate checking when tls-client-cert is in it). A
request carrying every credential is stored; a request that lacks exactly one of them is refused
with that mode's answer and leaves nothing in the ticks or rejects tables. The allowlist is
exercised through a trusted proxy on 127.0.0.1 that forwards the sender's address.
"""

from __future__ import annotations

import itertools
import json
from ipaddress import ip_network

import httpx
import pytest
from sqlalchemy import Engine, func, select

from mdtool.config import TRADINGVIEW_ADDRESSES
from mdtool.storage.schema import webhook_rejects
from mdtool.webhook.auth import Auth, AuthMode
from mdtool.webhook.signature import sign
from tests.webhook.certs import Pki, client_for, tls_for
from tests.webhook.server import KEY, WebhookServer
from tests.webhook.test_app import stored

pytestmark = pytest.mark.postgres
PATH = "/webhooks/tradingview"
PASSPHRASE = "tradingview-alert-passphrase-1"
CREDENTIALS = (AuthMode.HMAC, AuthMode.TLS_CLIENT_CERT, AuthMode.PASSPHRASE)
COMBINATIONS = [
    frozenset(chosen) | extra
    for size in (1, 2, 3)
    for chosen in itertools.combinations(CREDENTIALS, size)
    for extra in (frozenset(), frozenset({AuthMode.IP_ALLOWLIST}))
]
# What a request lacking one credential gets: a status (and field), or None for a refused handshake.
REFUSED = {
    AuthMode.HMAC: (401, "X-Signature"),
    AuthMode.PASSPHRASE: (401, "passphrase"),
    AuthMode.IP_ALLOWLIST: (403, "client"),
    AuthMode.TLS_CLIENT_CERT: None,
}


def auth_for(modes: frozenset[AuthMode]) -> Auth:
    return Auth(
        modes=modes,
        hmac_key=KEY if AuthMode.HMAC in modes else None,
        passphrase=PASSPHRASE.encode() if AuthMode.PASSPHRASE in modes else None,
        allow_ips=tuple(ip_network(a) for a in TRADINGVIEW_ADDRESSES)
        if AuthMode.IP_ALLOWLIST in modes
        else (),
        trusted_proxies=(ip_network("127.0.0.1/32"),),
    )


def send(
    server: WebhookServer, pki: Pki, modes: frozenset[AuthMode], symbol: str, lacking: AuthMode | None
) -> httpx.Response | None:
    """POST an alert with every credential `modes` needs except `lacking`; None when TLS refused it."""
    document = {"ticker": symbol, "close": "10.5", "time": "2024-05-01T10:00:00Z"}
    if AuthMode.PASSPHRASE in modes:
        document["passphrase"] = PASSPHRASE if lacking is not AuthMode.PASSPHRASE else PASSPHRASE[:-1] + "2"
    body = json.dumps(document).encode()
    headers = {"Content-Type": "text/plain; charset=utf-8"}  # as TradingView sends JSON it does not label
    if AuthMode.HMAC in modes:
        headers["X-Signature"] = sign(KEY if lacking is not AuthMode.HMAC else b"wrong-key-0123456789", body)
    if AuthMode.IP_ALLOWLIST in modes:
        headers["X-Forwarded-For"] = (
            "8.8.8.8" if lacking is AuthMode.IP_ALLOWLIST else TRADINGVIEW_ADDRESSES[1]
        )
    tls = AuthMode.TLS_CLIENT_CERT in modes
    cert = (pki.other if lacking is AuthMode.TLS_CLIENT_CERT else pki.tradingview).as_httpx if tls else None
    client = client_for(server, pki, cert) if tls else httpx.Client(base_url=server.base_url, timeout=10)
    with client:
        try:
            return client.post(PATH, content=body, headers=headers)
        except httpx.TransportError:
            return None


def rejects(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(webhook_rejects)).scalar_one())


@pytest.mark.parametrize("modes", COMBINATIONS, ids=lambda modes: "+".join(sorted(m.value for m in modes)))
def test_every_mode_must_pass(webhook_db: str, db: Engine, pki: Pki, modes: frozenset[AuthMode]) -> None:
    tag = "".join(sorted(m.value[0] for m in modes)).upper()
    tls = tls_for(pki) if AuthMode.TLS_CLIENT_CERT in modes else None
    rejects_before = rejects(db)
    with WebhookServer(webhook_db, auth=auth_for(modes), tls=tls) as server:
        accepted = send(server, pki, modes, f"MODE{tag}OK", None)
        assert accepted is not None and accepted.status_code == 200, accepted and accepted.text
        for lacking in sorted(modes, key=lambda m: m.value):
            answer = send(server, pki, modes, f"MODE{tag}NO", lacking)
            expected = REFUSED[lacking]
            if expected is None:
                assert answer is None, f"{lacking.value}: expected a refused handshake"
            else:
                assert answer is not None and (answer.status_code, answer.json()["field"]) == expected, (
                    lacking
                )
        refused = len(modes) - (AuthMode.TLS_CLIENT_CERT in modes)
        assert server.app.state.alert_counts.snapshot() == {
            200: 1,
            **({} if not refused else _statuses(modes)),
        }
    assert len(stored(db, f"MODE{tag}OK")) == 1
    assert stored(db, f"MODE{tag}NO") == []
    assert rejects(db) == rejects_before


def _statuses(modes: frozenset[AuthMode]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for mode in modes:
        expected = REFUSED[mode]
        if expected is not None:
            counts[expected[0]] = counts.get(expected[0], 0) + 1
    return counts
