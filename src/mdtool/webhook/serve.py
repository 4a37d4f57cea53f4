"""Run the webhook app under uvicorn: as a command (`serve`) or in the caller's event loop (`webhook_server`).

`serve` passes the app as an import string with `factory=True` because uvicorn's worker processes are
spawned and must build their own app (and so their own writer and connection pool); the TLS context
factory (`TlsFiles`) is picklable for the same reason. Every path here tells the app whether its
server checks client certificates (`served_with`), so that an app in `tls-client-cert` mode refuses
to start under a server that does not. `webhook_server` is for a process that builds
the app itself (`mdtool run`): it returns a `uvicorn.Server` to `await server.serve()` and stop with
`server.should_exit = True`.

uvicorn's own `X-Forwarded-For` handling is switched off: which proxies are believed is the webhook's
`MDTOOL_WEBHOOK_TRUSTED_PROXIES` (see `webhook.auth`), one rule for the allowlist and the logs.

After a graceful shutdown uvicorn re-raises the signal that stopped it, which would end the process
by SIGTERM (or a `KeyboardInterrupt`) instead of exit 0; both are turned into a normal return here.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
import uvicorn.config
from starlette.applications import Starlette

from mdtool.webhook.app import create_app
from mdtool.webhook.tls import TlsFiles

log = logging.getLogger(__name__)
APP_FACTORY = "mdtool.webhook.app:create_app"
CHECKED_APP_FACTORY = "mdtool.webhook.serve:create_checked_app"


# Only `check_client` matters to `served_with`; the worker's real context comes from uvicorn's config.
CHECKING = TlsFiles(Path(), check_client=True)


class _Stopped(Exception):
    """SIGTERM arrived; raised from the signal handler uvicorn hands the signal back to."""


def _stopped(_signum: int, _frame: FrameType | None) -> None:
    raise _Stopped


def log_config() -> dict[str, Any]:
    """uvicorn's logging setup plus mdtool's loggers, applied in every worker process alike.

    uvicorn's own access log is switched off: `mdtool.webhook.access` writes a richer line.
    """
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["mdtool"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def uvicorn_options(tls: TlsFiles | None) -> dict[str, Any]:
    """The uvicorn settings every way of serving the webhook shares."""
    return {
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": 15,
        "ssl_context_factory": tls,
    }


def create_checked_app() -> Starlette:
    """The app factory of worker processes whose TLS context checks client certificates."""
    return served_with(create_app(), CHECKING)


def served_with(app: Starlette, tls: TlsFiles | None) -> Starlette:
    """Record on `app` whether its server checks TradingView's client certificate (see `webhook.app`)."""
    app.state.client_certificates_checked = tls is not None and tls.check_client
    return app


def webhook_config(app: Starlette, tls: TlsFiles | None = None, **settings: Any) -> uvicorn.Config:
    """uvicorn's configuration for an app built with `create_app`; `settings` override or add to it.

    Logging is left to the caller's configuration (uvicorn's is not applied).
    """
    return uvicorn.Config(served_with(app, tls), log_config=None, **{**uvicorn_options(tls), **settings})


def webhook_server(app: Starlette, host: str, port: int, tls: TlsFiles | None = None) -> uvicorn.Server:
    """A server for an app built with `create_app`, run by the caller (`await server.serve()`).

    Refused TLS handshakes are counted in the app's `AlertCounts` (`tls_refused`).
    """
    if tls is not None and tls.counts is None:
        tls = dataclasses.replace(tls, counts=app.state.alert_counts)
    return uvicorn.Server(webhook_config(app, tls, host=host, port=port))


def serve(host: str, port: int, workers: int, tls: TlsFiles | None = None) -> None:
    """Block until SIGINT/SIGTERM; the lifespan then flushes what the writer still holds."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stopped) if main else None
    try:
        uvicorn.run(
            CHECKED_APP_FACTORY if tls is not None and tls.check_client else APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config(),
            **uvicorn_options(tls),
        )
    except (_Stopped, KeyboardInterrupt):
        log.info("webhook service stopped")
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
