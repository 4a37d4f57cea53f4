"""The `[webhook]` and `[dtc]` sections: the existing servers, run on threads of the `mdtool run` process.

Each is supervised like any job. The webhook app is the one `mdtool serve-webhook` serves (its lifespan
flushes its writer on stop); a thin ASGI wrapper counts responses by HTTP status for the metrics. The
DTC server is `DtcServer` on its own event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import uvicorn
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mdtool.config import Settings
from mdtool.dtc.server import DtcServer
from mdtool.dtc.session import ServerConfig
from mdtool.errors import MdtoolError
from mdtool.service.config import ListenConfig
from mdtool.service.supervise import Supervised, SupervisedJob
from mdtool.webhook.app import create_app
from mdtool.webhook.options import load_options
from mdtool.webhook.signature import secret_key

ALERT_PATH_PREFIX = "/webhooks/"


class StatusCounter:
    """ASGI wrapper: counts the HTTP status of every answer to an alert path (not health checks)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.counts: Counter[int] = Counter()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(ALERT_PATH_PREFIX):
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self._lock:
                    self.counts[int(message["status"])] += 1
            await send(message)

        await self.app(scope, receive, counting_send)

    def snapshot(self) -> dict[int, int]:
        with self._lock:
            return dict(self.counts)


class WebhookJob(SupervisedJob):
    """The TradingView webhook under uvicorn on a thread; refuses to start without authentication."""

    name = "webhook"
    venue = "tradingview"

    def __init__(self, config: ListenConfig, settings: Settings) -> None:
        secret_key(settings.tradingview_hmac_secret)  # the same refusal as `mdtool serve-webhook`
        self.config = config
        self.statuses = StatusCounter(create_app(settings, load_options()))
        self._supervised = Supervised("webhook", self._serve)

    def _serve(self, stop: threading.Event) -> None:
        config = uvicorn.Config(
            self.statuses, host=self.config.host, port=self.config.port, access_log=False,
            log_config=None, server_header=False, timeout_graceful_shutdown=15, lifespan="on",
        )  # fmt: skip
        server = uvicorn.Server(config)
        watcher = threading.Thread(target=_exit_when, args=(stop, server), daemon=True)
        watcher.start()
        try:
            server.run()
        except SystemExit:  # uvicorn exits the process when it cannot bind; here only this job fails
            raise MdtoolError(f"webhook cannot listen on {self.config.host}:{self.config.port}") from None
        finally:
            stop.set()


def _exit_when(stop: threading.Event, server: Any) -> None:
    stop.wait()
    server.should_exit = True


class DtcJob(SupervisedJob):
    """The DTC data service on its own event loop thread."""

    name = "dtc"
    venue = "dtc"

    def __init__(self, config: ListenConfig, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        self.server: DtcServer | None = None
        self._supervised = Supervised("dtc", self._serve)

    def _serve(self, stop: threading.Event) -> None:
        asyncio.run(self._main(stop))

    async def _main(self, stop: threading.Event) -> None:
        server = DtcServer(self.engine, ServerConfig(self.config.username, self.config.password))
        try:
            await server.start(self.config.host, self.config.port)
        except OSError as error:
            raise MdtoolError(
                f"DTC cannot listen on {self.config.host}:{self.config.port}: {error}"
            ) from None
        self.server = server
        try:
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        finally:
            self.server = None
            await server.close()
