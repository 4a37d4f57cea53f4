"""`mdtool serve-webhook`: validate the configuration here, then hand over to uvicorn.

The checks run before uvicorn starts so that a missing secret is one `error:` line and exit 2, not a
failed worker start buried in server logs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mdtool.config import load_settings
from mdtool.errors import UsageError
from mdtool.webhook.options import load_options
from mdtool.webhook.serve import serve
from mdtool.webhook.signature import secret_key


def run_serve_webhook(host: str, port: int, workers: int) -> int:
    """Serve until interrupted; returns the exit code. Raises `UsageError` for a bad configuration."""
    if not 1 <= port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, got {port}")
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    settings = load_settings()
    secret_key(settings.tradingview_hmac_secret)
    load_options()
    serve(host, port, workers)
    return 0


def serve_webhook(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.", min=1)] = 1,
) -> None:
    """Serve /health and the signed TradingView webhook (needs TRADINGVIEW_HMAC_SECRET, >= 16 bytes).

    POST alerts to /webhooks/tradingview with X-Signature = hex HMAC-SHA256 of the raw body. Bodies
    above MDTOOL_WEBHOOK_MAX_BODY bytes (default 65536) get 413.
    """
    raise typer.Exit(run_serve_webhook(host, port, workers))
