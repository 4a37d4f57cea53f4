"""Settings from the environment (docs/architecture.md, "Environment"), with an optional `.env` in the
working directory.

Values are validated when the settings are loaded, so a malformed URL or port fails at start-up with
one line naming the variable, instead of as a traceback deep inside a client library.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from mdtool.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///mdtool.db"
DEFAULTS: dict[str, str] = {
    "MARKET_DATA_DATABASE_URL": DEFAULT_DATABASE_URL,
    "BINANCE_BASE_URL": "https://api.binance.com",
    "BINANCE_STREAM_URL": "wss://stream.binance.com:9443",
    "BINANCE_ARCHIVE_URL": "https://data.binance.vision",
    "IBKR_HOST": "127.0.0.1",
    "IBKR_PORT": "4001",
    "IBKR_CLIENT_ID": "1",
}
_DATABASE_SCHEMES = ("postgresql", "postgresql+psycopg", "postgres", "sqlite")


@dataclass(frozen=True)
class Settings:
    """Validated configuration; build it with `load_settings()`."""

    database_url: str
    tradingview_hmac_secret: str | None
    binance_api_key: str | None
    binance_api_secret: str | None
    binance_base_url: str
    binance_stream_url: str
    ibkr_host: str
    ibkr_port: int
    ibkr_client_id: int
    binance_archive_url: str = DEFAULTS["BINANCE_ARCHIVE_URL"]


def read_environment(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> dict[str, str]:
    """Merge defaults, `.env` and the real environment, in increasing precedence."""
    merged = dict(DEFAULTS)
    dotenv_path = env_file if env_file is not None else Path.cwd() / ".env"
    if dotenv_path.is_file():
        merged.update({key: value for key, value in dotenv_values(dotenv_path).items() if value is not None})
    merged.update(os.environ if environ is None else environ)
    return merged


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Read and validate every variable; raises `ConfigError` naming the first bad one."""
    values = read_environment(environ, env_file)

    def optional(name: str) -> str | None:
        value = values.get(name, "").strip()
        return value or None

    return Settings(
        database_url=validate_database_url(values["MARKET_DATA_DATABASE_URL"].strip()),
        tradingview_hmac_secret=values.get("TRADINGVIEW_HMAC_SECRET") or None,
        binance_api_key=optional("BINANCE_API_KEY"),
        binance_api_secret=optional("BINANCE_API_SECRET"),
        binance_base_url=_http_url("BINANCE_BASE_URL", values["BINANCE_BASE_URL"], ("http", "https")),
        binance_stream_url=_http_url("BINANCE_STREAM_URL", values["BINANCE_STREAM_URL"], ("ws", "wss")),
        ibkr_host=_host("IBKR_HOST", values["IBKR_HOST"]),
        ibkr_port=_integer("IBKR_PORT", values["IBKR_PORT"], 1, 65535),
        ibkr_client_id=_integer("IBKR_CLIENT_ID", values["IBKR_CLIENT_ID"], 0, 2**31 - 1),
        binance_archive_url=_http_url(
            "BINANCE_ARCHIVE_URL", values["BINANCE_ARCHIVE_URL"], ("http", "https")
        ),
    )


def validate_database_url(url: str) -> str:
    """Accept the URL forms docs/architecture.md lists; anything else would fail obscurely in SQLAlchemy."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _DATABASE_SCHEMES:
        raise ConfigError(
            f"MARKET_DATA_DATABASE_URL must start with postgresql://, postgresql+psycopg:// or sqlite:///, "
            f"got {_redact(url)!r}"
        )
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise ConfigError("MARKET_DATA_DATABASE_URL: a SQLite URL looks like sqlite:///PATH")
        return url
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - property access validates the port
    except ValueError:
        raise ConfigError(f"MARKET_DATA_DATABASE_URL has a malformed port: {_redact(url)!r}") from None
    if not parts.hostname and "host=" not in parts.query:
        raise ConfigError(f"MARKET_DATA_DATABASE_URL has no host: {_redact(url)!r}")
    return url


def _redact(url: str) -> str:
    """Hide a password before a URL appears in a message."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _http_url(name: str, value: str, schemes: tuple[str, ...]) -> str:
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"{name} must be a {' or '.join(s + '://' for s in schemes)} URL, got {value!r}")
    try:
        parts.port  # noqa: B018 - property access validates the port
    except ValueError:
        raise ConfigError(f"{name} has a malformed port: {value!r}") from None
    return value


def _host(name: str, value: str) -> str:
    value = value.strip()
    if not value or any(ch.isspace() for ch in value) or "/" in value:
        raise ConfigError(f"{name} must be a host name or address, got {value!r}")
    return value


def _integer(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {number}")
    return number


# --- Webhook service settings (`mdtool serve-webhook`, the webhook of `mdtool run`) ---------------------

WEBHOOK_AUTH_VARIABLE = "MDTOOL_WEBHOOK_AUTH"
PASSPHRASE_VARIABLE = "TRADINGVIEW_PASSPHRASE"  # noqa: S105 - a variable name
ALLOW_IPS_VARIABLE = "MDTOOL_WEBHOOK_ALLOW_IPS"
TRUSTED_PROXIES_VARIABLE = "MDTOOL_WEBHOOK_TRUSTED_PROXIES"
SSL_CERTFILE_VARIABLE = "MDTOOL_WEBHOOK_SSL_CERTFILE"
SSL_KEYFILE_VARIABLE = "MDTOOL_WEBHOOK_SSL_KEYFILE"
SSL_CA_CERTS_VARIABLE = "MDTOOL_WEBHOOK_SSL_CA_CERTS"
# The addresses TradingView documents as the origin of its webhook requests.
TRADINGVIEW_ADDRESSES = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")

IPNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True)
class WebhookSettings:
    """The webhook's authentication and TLS variables, syntax-checked; `webhook.auth` gives them meaning.

    `auth` is the list as written in `MDTOOL_WEBHOOK_AUTH` (empty when unset); the TLS paths are None
    when unset. Networks are parsed here so that a typo fails at start-up naming the variable.
    """

    auth: tuple[str, ...]
    passphrase: str | None
    allow_ips: tuple[IPNetwork, ...]
    trusted_proxies: tuple[IPNetwork, ...]
    ssl_certfile: Path | None
    ssl_keyfile: Path | None
    ssl_ca_certs: Path | None


def load_webhook_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> WebhookSettings:
    """Read the `MDTOOL_WEBHOOK_*` and `TRADINGVIEW_PASSPHRASE` variables; `ConfigError` names a bad one."""
    values = read_environment(environ, env_file)

    def path(name: str) -> Path | None:
        value = values.get(name, "").strip()
        return Path(value).expanduser() if value else None

    allow = values.get(ALLOW_IPS_VARIABLE, "").strip() or ",".join(TRADINGVIEW_ADDRESSES)
    return WebhookSettings(
        auth=_words(values.get(WEBHOOK_AUTH_VARIABLE, "")),
        passphrase=values.get(PASSPHRASE_VARIABLE) or None,
        allow_ips=_networks(ALLOW_IPS_VARIABLE, allow),
        trusted_proxies=_networks(TRUSTED_PROXIES_VARIABLE, values.get(TRUSTED_PROXIES_VARIABLE, "")),
        ssl_certfile=path(SSL_CERTFILE_VARIABLE),
        ssl_keyfile=path(SSL_KEYFILE_VARIABLE),
        ssl_ca_certs=path(SSL_CA_CERTS_VARIABLE),
    )


def _words(value: str) -> tuple[str, ...]:
    """A comma- or space-separated list, lower-cased, without empty items."""
    return tuple(word.lower() for word in value.replace(",", " ").split())


def _networks(name: str, value: str) -> tuple[IPNetwork, ...]:
    """Addresses or CIDR blocks (`10.0.0.0/8`, `::1`); a bare address is a one-address network."""
    networks = []
    for word in _words(value):
        try:
            networks.append(ip_network(word, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {word!r} is not an IP address or CIDR block") from None
    return tuple(networks)
