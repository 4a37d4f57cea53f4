"""Authentication configuration and the pure checks (no sockets)."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest

from mdtool.config import TRADINGVIEW_ADDRESSES, load_settings, load_webhook_settings
from mdtool.errors import ConfigError
from mdtool.webhook.auth import AuthMode, allowed, auth_from, client_address, take_passphrase

NO_FILE = Path("/nonexistent/.env")
PASSPHRASE = "a-passphrase-of-some-length"


def auth_of(environ: dict[str, str]):  # type: ignore[no-untyped-def]
    settings = load_settings(environ, env_file=NO_FILE)
    return auth_from(settings, load_webhook_settings(environ, env_file=NO_FILE))


def test_hmac_secret_alone_means_hmac_as_before() -> None:
    auth = auth_of({"TRADINGVIEW_HMAC_SECRET": "x" * 16})
    assert auth.modes == {AuthMode.HMAC}
    assert auth.hmac_key == b"x" * 16


def test_modes_combine_and_carry_their_settings() -> None:
    auth = auth_of(
        {
            "MDTOOL_WEBHOOK_AUTH": "Passphrase, ip-allowlist tls-client-cert",
            "TRADINGVIEW_PASSPHRASE": PASSPHRASE,
            "TRADINGVIEW_HMAC_SECRET": "ignored-because-hmac-is-not-listed",
            "MDTOOL_WEBHOOK_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8",
        }
    )
    assert auth.modes == {AuthMode.PASSPHRASE, AuthMode.IP_ALLOWLIST, AuthMode.TLS_CLIENT_CERT}
    assert auth.hmac_key is None
    assert auth.passphrase == PASSPHRASE.encode()
    assert auth.allow_ips == tuple(ip_network(a) for a in TRADINGVIEW_ADDRESSES)
    assert auth.trusted_proxies == (ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"))
    assert auth.describe() == "tls-client-cert+passphrase+ip-allowlist"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "no webhook authentication configured: set TRADINGVIEW_HMAC_SECRET"),
        ({"MDTOOL_WEBHOOK_AUTH": "ip-allowlist"}, "ip-allowlist alone does not authenticate"),
        ({"MDTOOL_WEBHOOK_AUTH": "hmac,basic"}, "unknown mode 'basic'"),
        ({"MDTOOL_WEBHOOK_AUTH": "hmac"}, "TRADINGVIEW_HMAC_SECRET is not set"),
        ({"MDTOOL_WEBHOOK_AUTH": "passphrase"}, "TRADINGVIEW_PASSPHRASE is not set"),
        ({"MDTOOL_WEBHOOK_AUTH": "passphrase", "TRADINGVIEW_PASSPHRASE": "short"}, "5 characters long"),
        (
            {"MDTOOL_WEBHOOK_AUTH": "hmac", "MDTOOL_WEBHOOK_ALLOW_IPS": "1.2.3.4, nope"},
            "MDTOOL_WEBHOOK_ALLOW_IPS: 'nope'",
        ),
        ({"MDTOOL_WEBHOOK_TRUSTED_PROXIES": "300.1.1.1"}, "MDTOOL_WEBHOOK_TRUSTED_PROXIES"),
    ],
)
def test_unusable_configuration_is_one_config_error(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        auth_of(environ)
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)


def test_certificate_alone_is_allowed_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    assert auth_of({"MDTOOL_WEBHOOK_AUTH": "tls-client-cert"}).modes == {AuthMode.TLS_CLIENT_CERT}
    assert "add passphrase" in caplog.text


def test_tls_paths_are_read_from_the_environment() -> None:
    settings = load_webhook_settings(
        {"MDTOOL_WEBHOOK_SSL_CERTFILE": "/etc/c.pem", "MDTOOL_WEBHOOK_SSL_CA_CERTS": " "}, env_file=NO_FILE
    )
    assert (settings.ssl_certfile, settings.ssl_keyfile, settings.ssl_ca_certs) == (
        Path("/etc/c.pem"),
        None,
        None,
    )


def test_passphrase_is_removed_whatever_the_outcome() -> None:
    secret = PASSPHRASE.encode()
    for given, problem in [
        (PASSPHRASE, None),
        (PASSPHRASE + "x", "passphrase does not match"),
        ("ünïcödé\udcff", "passphrase does not match"),
        (12, "passphrase must be a JSON string"),
    ]:
        document = {"ticker": "X", "passphrase": given}
        assert take_passphrase(document, secret) == problem
        assert document == {"ticker": "X"}
    assert take_passphrase({"ticker": "X"}, secret) == "passphrase missing from the alert body"


PROXY = (ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("52.89.214.238", [], "52.89.214.238"),
        ("8.8.8.8", ["52.89.214.238"], "8.8.8.8"),  # not a trusted proxy: its header is ignored
        ("127.0.0.1", ["52.89.214.238"], "52.89.214.238"),
        ("127.0.0.1", ["52.89.214.238, 10.1.2.3"], "52.89.214.238"),  # a chain of trusted proxies
        ("127.0.0.1", ["52.89.214.238", "10.1.2.3"], "52.89.214.238"),  # repeated header lines
        ("127.0.0.1", ["52.89.214.238, 6.6.6.6"], "6.6.6.6"),  # the client wrote the left part
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["10.0.0.1"], "10.0.0.1"),  # only proxies: the leftmost
        (None, ["1.2.3.4"], None),
    ],
)
def test_client_address_believes_only_trusted_proxies(
    peer: str | None, forwarded: list[str], client: str | None
) -> None:
    assert client_address(peer, forwarded, PROXY) == client


def test_allowlist_matches_addresses_networks_and_mapped_ipv4() -> None:
    networks = (ip_network("52.89.214.238/32"), ip_network("192.168.0.0/16"))
    assert allowed("52.89.214.238", networks)
    assert allowed("::ffff:52.89.214.238", networks)
    assert allowed("192.168.4.4", networks)
    assert not allowed("52.89.214.239", networks)
    assert not allowed("not-an-address", networks)
    assert not allowed(None, networks)
