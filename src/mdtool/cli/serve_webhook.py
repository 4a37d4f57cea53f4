"""`mdtool serve-webhook`: validate the configuration here, then hand over to uvicorn.

The checks run before uvicorn starts so that a missing secret or an unreadable certificate is one
`error:` line and exit 2, not a failed worker start buried in server logs. Heavy modules (Starlette,
uvicorn, the database) are imported when the command runs, so `--help` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mdtool.config import (
    SSL_CA_CERTS_VARIABLE,
    SSL_CERTFILE_VARIABLE,
    SSL_KEYFILE_VARIABLE,
    load_settings,
    load_webhook_settings,
)
from mdtool.errors import UsageError


def run_serve_webhook(
    host: str,
    port: int,
    workers: int,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
    ssl_ca_certs: Path | None = None,
) -> int:
    """Serve until interrupted; returns the exit code. Raises `UsageError` for a bad configuration.

    The TLS paths fall back to `MDTOOL_WEBHOOK_SSL_*`.
    """
    from mdtool.webhook.auth import AuthMode, auth_from
    from mdtool.webhook.options import load_options
    from mdtool.webhook.serve import serve
    from mdtool.webhook.tls import tls_files

    if not 1 <= port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, got {port}")
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    webhook = load_webhook_settings()
    auth = auth_from(load_settings(), webhook)
    load_options()
    tls = tls_files(
        auth.uses(AuthMode.TLS_CLIENT_CERT),
        ssl_certfile or webhook.ssl_certfile,
        ssl_keyfile or webhook.ssl_keyfile,
        ssl_ca_certs or webhook.ssl_ca_certs,
    )
    if tls is not None:
        tls.context()  # an unreadable file fails here, once, with its name
    serve(host, port, workers, tls)
    return 0


def serve_webhook(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for TradingView).")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="TCP port (TradingView calls only 80 and 443).", min=1, max=65535)
    ] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.", min=1)] = 1,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(help=f"Serve HTTPS with this certificate chain (PEM); or set {SSL_CERTFILE_VARIABLE}."),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(help=f"Private key of --ssl-certfile (PEM); or set {SSL_KEYFILE_VARIABLE}.")
    ] = None,
    ssl_ca_certs: Annotated[
        Path | None,
        typer.Option(
            help="CA bundle TradingView's client certificate must chain to (tls-client-cert mode; "
            f"default: the system's trusted CAs); or set {SSL_CA_CERTS_VARIABLE}."
        ),
    ] = None,
) -> None:
    """Serve /health and the TradingView webhook POST /webhooks/tradingview.

    Authentication is chosen with MDTOOL_WEBHOOK_AUTH, a comma list of: hmac (X-Signature = hex
    HMAC-SHA256 of the raw body with TRADINGVIEW_HMAC_SECRET), tls-client-cert (HTTPS; TradingView's
    client certificate is required), passphrase (a "passphrase" field in the JSON alert equal to
    TRADINGVIEW_PASSPHRASE), and optionally ip-allowlist (MDTOOL_WEBHOOK_ALLOW_IPS, default
    TradingView's addresses). All listed modes must pass. Unset, it is hmac when
    TRADINGVIEW_HMAC_SECRET is set; with nothing configured the service refuses to start.

    Examples:

      TRADINGVIEW_HMAC_SECRET=... mdtool serve-webhook --port 8000

      MDTOOL_WEBHOOK_AUTH=tls-client-cert,passphrase TRADINGVIEW_PASSPHRASE=... mdtool serve-webhook
      --host 0.0.0.0 --port 443 --ssl-certfile fullchain.pem --ssl-keyfile privkey.pem

      MDTOOL_WEBHOOK_AUTH=passphrase,ip-allowlist MDTOOL_WEBHOOK_TRUSTED_PROXIES=127.0.0.1
      mdtool serve-webhook   (behind nginx or Caddy)

    Bodies above MDTOOL_WEBHOOK_MAX_BODY bytes (default 65536) get 413.
    """
    raise typer.Exit(run_serve_webhook(host, port, workers, ssl_certfile, ssl_keyfile, ssl_ca_certs))
