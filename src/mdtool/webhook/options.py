"""Settings of the webhook service that only it uses (`MDTOOL_WEBHOOK_*`), validated at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mdtool.config import read_environment
from mdtool.errors import ConfigError

MAX_BODY_VARIABLE = "MDTOOL_WEBHOOK_MAX_BODY"
DEFAULT_MAX_BODY = 65_536
MAX_BODY_CEILING = 16 * 1024 * 1024


@dataclass(frozen=True)
class WebhookOptions:
    """Limits and timeouts; the timeouts stay well below a typical sender's own (TradingView: ~3 s)."""

    max_body: int = DEFAULT_MAX_BODY
    commit_timeout: float = 2.5
    health_timeout: float = 2.0
    lookup_timeout: float = 1.0


def load_options(environ: Mapping[str, str] | None = None) -> WebhookOptions:
    """Options from the environment (and `.env`); a malformed value is a `ConfigError` naming it."""
    raw = read_environment(environ).get(MAX_BODY_VARIABLE, "").strip()
    if not raw:
        return WebhookOptions()
    try:
        max_body = int(raw)
    except ValueError:
        raise ConfigError(f"{MAX_BODY_VARIABLE} must be a number of bytes, got {raw!r}") from None
    if not 1 <= max_body <= MAX_BODY_CEILING:
        raise ConfigError(f"{MAX_BODY_VARIABLE} must be between 1 and {MAX_BODY_CEILING}, got {max_body}")
    return WebhookOptions(max_body=max_body)
