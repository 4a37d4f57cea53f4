import hashlib
import hmac

import pytest

from mdtool.errors import ConfigError, UsageError
from mdtool.webhook.signature import SignatureResult, secret_key, sign, verify

KEY = b"0123456789abcdef-secret"
BODY = b'{"ticker":"BTCUSDT","close":1}'


def test_sign_is_lower_case_hex_hmac_sha256_of_the_raw_body() -> None:
    assert sign(KEY, BODY) == hmac.new(KEY, BODY, hashlib.sha256).hexdigest()
    assert sign(KEY, BODY).islower()


@pytest.mark.parametrize(
    "header",
    [sign(KEY, BODY), "sha256=" + sign(KEY, BODY), sign(KEY, BODY).upper(), f"  SHA256={sign(KEY, BODY)} "],
)
def test_accepted_spellings(header: str) -> None:
    assert verify(KEY, BODY, header) is SignatureResult.VALID


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing(header: str | None) -> None:
    assert verify(KEY, BODY, header) is SignatureResult.MISSING


@pytest.mark.parametrize(
    "header",
    [
        sign(KEY, BODY + b" "),
        sign(b"another-secret-of-16b", BODY),
        sign(KEY, BODY)[:-1],
        "sha256=",
        "sha1=" + sign(KEY, BODY),
        "é" * 64,
        "\udcff" * 64,
    ],
)
def test_invalid_never_raises(header: str) -> None:
    assert verify(KEY, BODY, header) is SignatureResult.INVALID


@pytest.mark.parametrize("secret", [None, "", "short", "x" * 15])
def test_missing_or_short_secret_is_a_usage_error(secret: str | None) -> None:
    with pytest.raises(ConfigError, match="TRADINGVIEW_HMAC_SECRET") as caught:
        secret_key(secret)
    assert isinstance(caught.value, UsageError)
    assert "\n" not in str(caught.value)


def test_secret_length_counts_bytes() -> None:
    assert secret_key("ü" * 8) == ("ü" * 8).encode()
