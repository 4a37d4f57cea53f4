"""Run the webhook app under uvicorn: as a command (`serve`) or in the caller's event loop (`webhook_server`).

`serve` passes the app as an import string with `factory=True` because uvicorn's worker processes are
spawned and must build their own app (and so their own writer and connection pool); the TLS context
factory (`TlsFiles`) is picklable for the same reason. `webhook_server` is for a process that builds
the app itself (`mdtool run`): it returns a `uvicorn.Server` to `await server.serve()` and stop with
`server.should_exit = True`.

uvicorn's own `X-Forwarded-For` handling is switched off: which proxies are believed is the webhook's
`MDTOOL_WEBHOOK_TRUSTED_PROXIES` (see `webhook.auth`), one rule for the allowlist and the logs.

After a graceful shutdown uvicorn re-raises the signal that stopped it, which would end the process
by SIGTERM (or a `KeyboardInterrupt`) instead of exit 0; both are turned into a normal return here.
"""

from __future__ import annotations

import copy
import logging
import signal
import threading
from types import FrameType
from typing import Any

import uvicorn
import uvicorn.config
from starlette.types import ASGIApp

from mdtool.webhook.tls import TlsFiles

log = logging.getLogger(__name__)
APP_FACTORY = "mdtool.webhook.app:create_app"


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


def webhook_server(app: ASGIApp, host: str, port: int, tls: TlsFiles | None = None) -> uvicorn.Server:
    """A server for an app built with `create_app`, run by the caller (`await server.serve()`).

    Logging is left to the caller's configuration (uvicorn's is not applied).
    """
    config = uvicorn.Config(app, host=host, port=port, log_config=None, **uvicorn_options(tls))
    return uvicorn.Server(config)


def serve(host: str, port: int, workers: int, tls: TlsFiles | None = None) -> None:
    """Block until SIGINT/SIGTERM; the lifespan then flushes what the writer still holds."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stopped) if main else None
    try:
        uvicorn.run(
            APP_FACTORY,
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
