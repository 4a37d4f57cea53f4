"""HTTPS for the webhook, and TradingView's client certificate checked during the TLS handshake.

uvicorn's ASGI scope carries no peer certificate (no `tls` extension in the installed 0.54), so the
app cannot see it. Rather than subclass uvicorn's HTTP protocol classes (private API), the check sits
in the TLS layer through two public hooks: uvicorn's `ssl_context_factory` builds the context, and the
context's `sslobject_class` (documented in `ssl`) is `TradingViewCertificate`, whose `do_handshake`
runs OpenSSL's chain verification (`CERT_REQUIRED` against the CA bundle) and then the subject check.
A refused certificate therefore never reaches HTTP: the connection closes during the handshake, on
asyncio's and uvloop's SSL transports alike (both call `do_handshake` on the object). The cost is
that the refusal log line cannot name the peer address, which the SSL object does not know; it names
the reason and a refusal id.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdtool.config import SSL_CA_CERTS_VARIABLE, SSL_CERTFILE_VARIABLE, SSL_KEYFILE_VARIABLE
from mdtool.errors import ConfigError, UsageError
from mdtool.webhook.access import AlertCounts

log = logging.getLogger(__name__)
# What TradingView documents its webhook client certificate to carry.
TRADINGVIEW_SUBJECT = (
    ("countryName", "US"),
    ("stateOrProvinceName", "Ohio"),
    ("localityName", "Westerville"),
    ("organizationName", "TradingView, Inc."),
    ("commonName", "TradingView Webhooks"),
)
TRADINGVIEW_EMAIL = "webhook-server@tradingview.com"
_AGAIN = (ssl.SSLWantReadError, ssl.SSLWantWriteError)


def subject_problem(certificate: dict[str, Any]) -> str | None:
    """Why a verified peer certificate (as `getpeercert()` returns it) is not TradingView's, or None.

    Every documented attribute must be present with exactly the documented value (no second value of
    the same attribute); other attributes are tolerated. The subject alternative names must include
    the documented e-mail address.
    """
    subject: dict[str, list[str]] = {}
    for rdn in certificate.get("subject", ()):
        for name, value in rdn:
            subject.setdefault(name, []).append(value)
    for name, value in TRADINGVIEW_SUBJECT:
        if subject.get(name) != [value]:
            shown = ", ".join(f"{key}={'/'.join(values)}" for key, values in subject.items())
            return f"client certificate subject ({shown[:200]}) is not TradingView's"
    emails = [value.lower() for kind, value in certificate.get("subjectAltName", ()) if kind == "email"]
    if TRADINGVIEW_EMAIL not in emails:
        return f"client certificate has no subject alternative name email:{TRADINGVIEW_EMAIL}"
    return None


class TradingViewCertificate(ssl.SSLObject):
    """An `SSLObject` whose handshake also requires TradingView's subject; logs every refusal.

    `counts`, set on a subclass per context (`SSLContext` creates these objects itself, so a class
    attribute is the only way in), receives the refusals for metrics.
    """

    counts: AlertCounts | None = None

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except _AGAIN:
            raise
        except ssl.SSLError as error:
            self._refused(_describe(error))
            raise
        problem = subject_problem(self.getpeercert() or {})
        if problem is not None:
            self._refused(problem)
            raise ssl.SSLCertVerificationError(problem)

    def _refused(self, reason: str) -> None:
        # A refusal has no HTTP request (and so no request id): a random id ties its log line to reports.
        log.warning("tls-%s TLS handshake refused: %s", os.urandom(4).hex(), reason)
        if self.counts is not None:
            self.counts.record_tls_refusal()


def _describe(error: ssl.SSLError) -> str:
    verify = getattr(error, "verify_message", None)
    reason = (error.reason or str(error)).replace("_", " ").lower()
    if reason == "peer did not return a certificate" or "certificate required" in reason:
        return "no client certificate presented"
    return f"{reason}: {verify}" if verify else reason


@dataclass(frozen=True)
class TlsFiles:
    """Server certificate and key, and for TradingView's client certificate the CA bundle to trust.

    An instance is uvicorn's `ssl_context_factory` (picklable, so worker processes build their own
    context). `check_client` requires and checks the client certificate; `ca_certs` None then means
    the system's trusted CAs. Refused handshakes are counted in `counts` when given.
    """

    certfile: Path
    keyfile: Path | None = None
    ca_certs: Path | None = None
    check_client: bool = False
    counts: AlertCounts | None = field(default=None, compare=False)

    def context(self) -> ssl.SSLContext:
        """The server context; `ConfigError` naming the file that cannot be loaded."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.certfile, self.keyfile)
        except (OSError, ssl.SSLError) as error:
            files = f"{self.certfile}" + (f" / {self.keyfile}" if self.keyfile else "")
            raise ConfigError(f"cannot load the TLS certificate and key ({files}): {_short(error)}") from None
        if self.check_client:
            context.verify_mode = ssl.CERT_REQUIRED
            context.sslobject_class = type(
                "TradingViewCertificate", (TradingViewCertificate,), {"counts": self.counts}
            )
            if self.ca_certs is None:
                context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
            else:
                try:
                    context.load_verify_locations(cafile=self.ca_certs)
                except (OSError, ssl.SSLError) as error:
                    raise ConfigError(f"cannot load the CA bundle {self.ca_certs}: {_short(error)}") from None
        return context

    def __call__(self, _config: object, _default: object) -> ssl.SSLContext:
        return self.context()


def _short(error: BaseException) -> str:
    return (getattr(error, "strerror", None) or str(error)).splitlines()[0][:160]


def tls_files(
    check_client: bool, certfile: Path | None, keyfile: Path | None, ca_certs: Path | None
) -> TlsFiles | None:
    """What to serve HTTPS with, or None for plain HTTP; `UsageError` for an inconsistent choice."""
    if certfile is None:
        if check_client:
            raise UsageError(
                "tls-client-cert needs HTTPS: give --ssl-certfile and --ssl-keyfile "
                f"(or {SSL_CERTFILE_VARIABLE} and {SSL_KEYFILE_VARIABLE})"
            )
        if keyfile is not None:
            raise UsageError(f"--ssl-keyfile needs --ssl-certfile (or {SSL_CERTFILE_VARIABLE})")
        if ca_certs is not None:
            raise UsageError("--ssl-ca-certs needs --ssl-certfile and the tls-client-cert mode")
        return None
    if ca_certs is not None and not check_client:
        raise UsageError(
            f"--ssl-ca-certs (or {SSL_CA_CERTS_VARIABLE}) checks client certificates: "
            "add tls-client-cert to MDTOOL_WEBHOOK_AUTH, or drop it"
        )
    return TlsFiles(certfile, keyfile, ca_certs, check_client)
