"""Request ids and the access log: one line per request, without secrets or bodies.

A pure ASGI middleware rather than Starlette's `BaseHTTPMiddleware`, which would add a task and a
stream copy per request on the hot path. Handlers put the signature result into the request state;
the line is written when the response has gone out (or the handler failed), with the latency.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections import Counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("mdtool.webhook.access")
REQUEST_ID_HEADER = b"x-request-id"
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


def forwarded_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """A proxy's `X-Request-ID` when it is short and harmless in a log line."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER and _SAFE_ID.fullmatch(value):
            return value.decode("ascii")
    return None


class AlertCounts:
    """Answers to alert requests by HTTP status, for a metrics endpoint (`mdtool run` reads it).

    Per process: with several uvicorn workers each has its own counts.
    """

    def __init__(self) -> None:
        self.by_status: Counter[int] = Counter()
        self.tls_refused = 0  # handshakes refused by the client-certificate check (no HTTP status)

    def record(self, status: int) -> None:
        self.by_status[status] += 1

    def record_tls_refusal(self) -> None:
        self.tls_refused += 1

    def snapshot(self) -> dict[int, int]:
        """A copy, safe to read from another thread while requests keep arriving."""
        return dict(self.by_status)


def printable(text: str, limit: int = 200) -> str:
    """Escape control characters so a crafted path cannot forge log lines."""
    return text[:limit].encode("unicode_escape").decode("ascii")


class AccessLog:
    """Assigns `request.state.request_id`, echoes it as `X-Request-ID`, logs status and latency.

    Answers on `counted_path` are counted by status in `counts`. The client logged is the one the
    handler resolved (`request.state.client`, from a trusted proxy's `X-Forwarded-For`), else the peer.
    """

    def __init__(self, app: ASGIApp, counts: AlertCounts | None = None, counted_path: str = "") -> None:
        self.app = app
        self.counts = counts
        self.counted_path = counted_path
        # A random prefix and a counter: unique across workers and restarts, and far cheaper than a
        # uuid4 per request (an `os.urandom` call costs tens of microseconds here).
        self._prefix = os.urandom(4).hex()
        self._sequence = itertools.count(1)

    def request_id(self, headers: list[tuple[bytes, bytes]]) -> str:
        """The proxy's request id where there is a usable one, else a fresh one."""
        return forwarded_request_id(headers) or f"{self._prefix}-{next(self._sequence):x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = self.request_id(scope["headers"])
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.counts is not None and scope["path"] == self.counted_path:
                self.counts.record(status)
            peer = scope.get("client")
            client = state.get("client") or (peer[0] if peer else "-")
            log.info(
                "%s %s %s %d signature=%s %.1fms client=%s",
                request_id,
                scope["method"],
                printable(scope["path"]),
                status,
                state.get("signature", "-"),
                (time.perf_counter() - started) * 1000,
                printable(client.replace(" ", "_"), 64),
            )
