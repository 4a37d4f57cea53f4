"""Authentication modes of the webhook and the pure checks behind them.

TradingView cannot add headers, so besides the `X-Signature` HMAC (for relays and scripts) the
service offers what TradingView can send: its TLS client certificate (`tls-client-cert`, checked
during the handshake, see `webhook.tls`) and a secret inside the alert body (`passphrase`). An
optional source-address allowlist (`ip-allowlist`, default TradingView's four addresses) narrows any
of them. Every configured mode must pass (they combine with AND).

Neither the allowlist nor the certificate tells one TradingView user from another: they prove that
TradingView sent the request, not that the alert is yours. The allowlist alone is therefore refused
as a configuration, and the certificate alone is allowed but warned about; a passphrase or HMAC
secret is what identifies the sender.
"""

from __future__ import annotations

import enum
import hmac
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any

from mdtool.config import (
    PASSPHRASE_VARIABLE,
    WEBHOOK_AUTH_VARIABLE,
    IPNetwork,
    Settings,
    WebhookSettings,
)
from mdtool.errors import ConfigError
from mdtool.webhook.signature import MIN_SECRET_BYTES, secret_key

log = logging.getLogger(__name__)
PASSPHRASE_FIELD = "passphrase"  # noqa: S105 - a field name


class AuthMode(enum.Enum):
    """One authentication mode as spelled in `MDTOOL_WEBHOOK_AUTH`."""

    HMAC = "hmac"
    TLS_CLIENT_CERT = "tls-client-cert"
    PASSPHRASE = "passphrase"  # noqa: S105 - a mode name
    IP_ALLOWLIST = "ip-allowlist"


CREDENTIALS = frozenset({AuthMode.HMAC, AuthMode.TLS_CLIENT_CERT, AuthMode.PASSPHRASE})


@dataclass(frozen=True)
class Auth:
    """The checks one service applies; build it with `auth_from`."""

    modes: frozenset[AuthMode]
    hmac_key: bytes | None = None
    passphrase: bytes | None = None
    allow_ips: tuple[IPNetwork, ...] = ()
    trusted_proxies: tuple[IPNetwork, ...] = ()

    def uses(self, mode: AuthMode) -> bool:
        return mode in self.modes

    def describe(self) -> str:
        """`hmac+ip-allowlist`: for the start-up log line (never a secret)."""
        return "+".join(mode.value for mode in AuthMode if mode in self.modes)


def auth_from(settings: Settings, webhook: WebhookSettings) -> Auth:
    """The configured modes with their secrets; `ConfigError` when nothing usable is configured.

    Without `MDTOOL_WEBHOOK_AUTH`, a set `TRADINGVIEW_HMAC_SECRET` means `hmac` (the behaviour before
    the variable existed); with neither, the service refuses to start.
    """
    names = webhook.auth or (("hmac",) if settings.tradingview_hmac_secret else ())
    if not names:
        raise ConfigError(
            "no webhook authentication configured: set TRADINGVIEW_HMAC_SECRET (X-Signature), or "
            f"{WEBHOOK_AUTH_VARIABLE} to hmac, tls-client-cert and/or passphrase (optionally with "
            "ip-allowlist); the webhook refuses unauthenticated alerts"
        )
    modes = frozenset(_mode(name) for name in names)
    if not modes & CREDENTIALS:
        raise ConfigError(
            f"{WEBHOOK_AUTH_VARIABLE}=ip-allowlist alone does not authenticate: every TradingView user's "
            "alerts come from those addresses; add passphrase, tls-client-cert or hmac"
        )
    if modes & CREDENTIALS == {AuthMode.TLS_CLIENT_CERT}:
        log.warning(
            "tls-client-cert proves an alert comes from TradingView, not from your account; "
            "add passphrase to %s so other TradingView users cannot post to this URL",
            WEBHOOK_AUTH_VARIABLE,
        )
    return Auth(
        modes=modes,
        hmac_key=secret_key(settings.tradingview_hmac_secret) if AuthMode.HMAC in modes else None,
        passphrase=_passphrase(webhook.passphrase) if AuthMode.PASSPHRASE in modes else None,
        allow_ips=webhook.allow_ips if AuthMode.IP_ALLOWLIST in modes else (),
        trusted_proxies=webhook.trusted_proxies,
    )


def _mode(name: str) -> AuthMode:
    try:
        return AuthMode(name)
    except ValueError:
        known = ", ".join(mode.value for mode in AuthMode)
        raise ConfigError(f"{WEBHOOK_AUTH_VARIABLE}: unknown mode {name!r} (use {known})") from None


def _passphrase(value: str | None) -> bytes:
    """Sixteen characters at least, as for the HMAC secret: it is the only secret in the alert."""
    if not value:
        raise ConfigError(f"{PASSPHRASE_VARIABLE} is not set but {WEBHOOK_AUTH_VARIABLE} asks for passphrase")
    if len(value) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{PASSPHRASE_VARIABLE} is {len(value)} characters long; use at least {MIN_SECRET_BYTES} "
            "random ones (e.g. `openssl rand -hex 16`)"
        )
    return value.encode()


def take_passphrase(document: dict[str, Any], expected: bytes) -> str | None:
    """Remove the passphrase field from `document`; the problem when it is missing or wrong, else None.

    Removed whatever the outcome, so the secret never reaches the stored payload or a reject row.
    The comparison is constant-time on bytes (the value is attacker-controlled text).
    """
    given = document.pop(PASSPHRASE_FIELD, None)
    if given is None:
        return "passphrase missing from the alert body"
    if not isinstance(given, str):
        return "passphrase must be a JSON string"
    candidate = given.encode("utf-8", "surrogateescape")
    return None if hmac.compare_digest(expected, candidate) else "passphrase does not match"


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[IPNetwork]
) -> str | None:
    """The address that sent the request: the peer, or from `X-Forwarded-For` when the peer is trusted.

    The header is read from the right (each proxy appends the address it received from) and the first
    address that is not itself a trusted proxy is the client; entries further left were written by
    the client and are never believed. A peer that is not a trusted proxy is the client, whatever
    header it sends.
    """
    if peer is None or not _within(peer, trusted):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop
    return hops[0] if hops else peer


def allowed(address: str | None, networks: Sequence[IPNetwork]) -> bool:
    """True when `address` parses and lies in one of `networks`."""
    return address is not None and _within(address, networks)


def _within(address: str, networks: Sequence[IPNetwork]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    if parsed.version == 6 and parsed.ipv4_mapped is not None:  # ::ffff:1.2.3.4 on a dual-stack socket
        parsed = parsed.ipv4_mapped
    return any(parsed in network for network in networks)
