"""TradingView webhook service: authenticated, validated alerts stored as ticks.

The pure parts (`signature`, `auth`, `alerts`, `receipts`) are separate from the Starlette app (`app`,
`intake`) so they are tested without sockets; `tls` builds the HTTPS context that checks TradingView's
client certificate, and `serve` runs the app under uvicorn.

The surface another part of mdtool (the `mdtool run` supervisor) builds on::

    auth = auth_from(load_settings(), load_webhook_settings())
    counts = AlertCounts()
    app = create_app(settings, auth=auth, counts=counts)
    server = webhook_server(app, "0.0.0.0", 443, tls_files(True, cert, key, ca))
    await server.serve()            # server.should_exit = True stops it; counts.snapshot() for metrics
"""

from mdtool.webhook.access import AlertCounts
from mdtool.webhook.app import WEBHOOK_PATH, create_app
from mdtool.webhook.auth import Auth, AuthMode, auth_from
from mdtool.webhook.serve import serve, webhook_server
from mdtool.webhook.tls import TlsFiles, tls_files

__all__ = [
    "WEBHOOK_PATH",
    "AlertCounts",
    "Auth",
    "AuthMode",
    "TlsFiles",
    "auth_from",
    "create_app",
    "serve",
    "tls_files",
    "webhook_server",
]
