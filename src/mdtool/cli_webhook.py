"""`mdtool serve-webhook`: validate the configuration here, then hand over to uvicorn.

The checks run before uvicorn starts so that a missing secret is one `error:` line and exit 2, not a
failed worker start buried in server logs.
"""

from __future__ import annotations

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
