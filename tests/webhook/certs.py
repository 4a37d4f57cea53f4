"""Certificates made in the test run: a test CA, the server's, and client certificates to present.

`tradingview` carries the subject and e-mail SAN TradingView documents; `other` a different subject
from the same CA; `no_email` TradingView's subject without the SAN; `foreign` TradingView's subject
from a CA the server does not trust.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mdtool.webhook.tls import TlsFiles

if TYPE_CHECKING:
    from tests.webhook.server import WebhookServer

TRADINGVIEW = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Ohio"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Westerville"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TradingView, Inc."),
        x509.NameAttribute(NameOID.COMMON_NAME, "TradingView Webhooks"),
    ]
)
OTHER = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Someone Else LLC"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Not TradingView"),
    ]
)
EMAIL = "webhook-server@tradingview.com"


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path

    @property
    def as_httpx(self) -> tuple[str, str]:
        return str(self.cert), str(self.key)


@dataclass(frozen=True)
class Pki:
    ca: Path
    server: Pair
    tradingview: Pair
    other: Pair
    no_email: Pair
    foreign: Pair


class _Authority:
    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            _builder(self.name, self.name, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def issue(
        self, folder: Path, stem: str, subject: x509.Name, *, client: bool, san: x509.GeneralName
    ) -> Pair:
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        cert = (
            _builder(subject, self.name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        pair = Pair(folder / f"{stem}.pem", folder / f"{stem}.key")
        pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pair.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return pair


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
    )


def tls_for(pki: Pki, check_client: bool = True) -> TlsFiles:
    """The server side as `mdtool serve-webhook` builds it, trusting the test CA for client certificates."""
    return TlsFiles(pki.server.cert, pki.server.key, pki.ca, check_client)


def client_for(server: WebhookServer, pki: Pki, cert: tuple[str, str] | None) -> httpx.Client:
    """An HTTPS client trusting the test CA, presenting `cert` (certificate, key) when given."""
    return client_for_url(server.base_url, pki, cert)


def client_for_url(base_url: str, pki: Pki, cert: tuple[str, str] | None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None:
        context.load_cert_chain(*cert)
    return httpx.Client(base_url=base_url, verify=context, timeout=10)


def make_pki(folder: Path) -> Pki:
    """Write every certificate and key under `folder`."""
    authority, stranger = _Authority("mdtool test CA"), _Authority("untrusted test CA")
    ca = folder / "ca.pem"
    ca.write_bytes(authority.cert.public_bytes(serialization.Encoding.PEM))
    email = x509.RFC822Name(EMAIL)
    return Pki(
        ca=ca,
        server=authority.issue(
            folder, "server", x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
            client=False, san=x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ),
        tradingview=authority.issue(folder, "tradingview", TRADINGVIEW, client=True, san=email),
        other=authority.issue(folder, "other", OTHER, client=True, san=x509.RFC822Name("x@example.com")),
        no_email=authority.issue(
            folder, "no_email", TRADINGVIEW, client=True, san=x509.DNSName("tradingview.example")
        ),
        foreign=stranger.issue(folder, "foreign", TRADINGVIEW, client=True, san=email),
    )  # fmt: skip
