"""A real uvicorn server in a thread on a loopback socket we bind first (no free-port race).

It is configured the way `mdtool serve-webhook` configures uvicorn (`uvicorn_options`), over HTTP or,
with `tls`, over HTTPS with the same TLS context factory.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import uvicorn

from mdtool.config import Settings, load_settings
from mdtool.webhook.app import create_app
from mdtool.webhook.auth import Auth
from mdtool.webhook.options import WebhookOptions
from mdtool.webhook.serve import webhook_config
from mdtool.webhook.signature import sign
from mdtool.webhook.tls import TlsFiles

SECRET = "test-secret-0123456789abcdef"
KEY = SECRET.encode()


def settings_for(database_url: str, secret: str | None = SECRET) -> Settings:
    environ = {"MARKET_DATA_DATABASE_URL": database_url}
    if secret is not None:
        environ["TRADINGVIEW_HMAC_SECRET"] = secret
    return load_settings(environ, env_file=Path("/nonexistent/.env"))


def signed(body: bytes) -> dict[str, str]:
    return {"X-Signature": sign(KEY, body), "Content-Type": "application/json"}


class WebhookServer:
    """`with WebhookServer(url) as server:` serves until the block ends; `server.base_url`, `server.app`."""

    def __init__(
        self,
        database_url: str,
        options: WebhookOptions | None = None,
        *,
        auth: Auth | None = None,
        tls: TlsFiles | None = None,
        loop: str = "auto",
    ) -> None:
        self.app = create_app(settings_for(database_url), options or WebhookOptions(), auth)
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        config = webhook_config(self.app, tls, lifespan="on", loop=loop, timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.startup_failure: int | str | None = None

    def _run(self) -> None:
        try:
            self.server.run([self._socket])
        except SystemExit as stopped:  # uvicorn exits when the app's lifespan start-up fails
            self.startup_failure = stopped.code

    def __enter__(self) -> WebhookServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._thread.join(5)
                self._socket.close()
                raise RuntimeError(f"uvicorn did not start (exit {self.startup_failure})")
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(20)
        self._socket.close()
        if self._thread.is_alive():
            raise RuntimeError("uvicorn did not stop")
