"""Run the webhook app under uvicorn, in this process or in `workers` processes.

The app is passed as an import string with `factory=True` because uvicorn's worker processes are
spawned and must build their own app (and so their own writer and connection pool).

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


def serve(host: str, port: int, workers: int) -> None:
    """Block until SIGINT/SIGTERM; the lifespan then flushes what the writer still holds."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stopped) if main else None
    try:
        _run(host, port, workers)
    except (_Stopped, KeyboardInterrupt):
        log.info("webhook service stopped")
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def _run(host: str, port: int, workers: int) -> None:
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=log_config(),
        server_header=False,
        timeout_graceful_shutdown=15,
    )
