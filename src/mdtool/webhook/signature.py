"""HMAC-SHA256 signatures of raw alert bodies (the `X-Signature` header).

The signature covers the exact bytes received, never a re-serialised JSON, so any change to the body
invalidates it. Comparison is constant-time on bytes: `hmac.compare_digest` on `str` refuses non-ASCII
text, and a header is attacker-controlled, so comparing strings could raise instead of answering 401.
"""

from __future__ import annotations

import enum
import hashlib
import hmac

from mdtool.errors import ConfigError

MIN_SECRET_BYTES = 16
PREFIX = "sha256="


class SignatureResult(enum.Enum):
    """Outcome of a check, logged in the access log (never the signature itself)."""

    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"


def secret_key(secret: str | None) -> bytes:
    """The HMAC key from `TRADINGVIEW_HMAC_SECRET`; a missing or short secret is a usage error.

    Sixteen bytes is the floor because a shorter shared secret can be brute-forced offline from one
    captured signed alert.
    """
    if not secret:
        raise ConfigError("TRADINGVIEW_HMAC_SECRET is not set: the webhook refuses unauthenticated alerts")
    key = secret.encode()
    if len(key) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"TRADINGVIEW_HMAC_SECRET is {len(key)} bytes long; use at least {MIN_SECRET_BYTES} random bytes"
        )
    return key


def sign(key: bytes, body: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of `body`: what a sender puts in `X-Signature`."""
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(key: bytes, body: bytes, header: str | None) -> SignatureResult:
    """Check an `X-Signature` value (hex, optionally `sha256=`-prefixed, either case) against `body`."""
    if header is None or not header.strip():
        return SignatureResult.MISSING
    provided = header.strip()
    if provided[: len(PREFIX)].lower() == PREFIX:
        provided = provided[len(PREFIX) :]
    expected = sign(key, body).encode("ascii")
    candidate = provided.lower().encode("utf-8", "surrogateescape")
    return SignatureResult.VALID if hmac.compare_digest(expected, candidate) else SignatureResult.INVALID
