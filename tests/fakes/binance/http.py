"""One HTTP/1.1 port for both halves: REST requests are routed, WebSocket upgrades handed to the stream."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.binance.rest import log
from tests.fakes.binance.websocket import WS_GUID

if TYPE_CHECKING:
    from tests.fakes.binance.exchange import FakeBinance


def handler_for(fake: FakeBinance) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes; no 40 ms delayed-ACK stalls

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("fake binance: " + format, *args)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if self.headers.get("Upgrade", "").lower() == "websocket":
                self._upgrade(parts.path, params)
                return
            status, headers, error = fake.admit(parts.path)
            if status == 0:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                fake.requests.append((time.time(), parts.path, params, 0))
                return
            body: Any = error
            if status == 200:
                status, body = fake.route(parts.path, params, self.headers.get("X-MBX-APIKEY"))
            fake.requests.append((time.time(), parts.path, params, status))
            raw = body.encode() if isinstance(body, str) else json.dumps(body, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

        def _upgrade(self, path: str, params: dict[str, str]) -> None:
            fake.attempts.append(time.monotonic())
            if not fake.accepts_path(path):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.close_connection = True
                return
            key = self.headers.get("Sec-WebSocket-Key", "")
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            fake.serve_websocket(self.connection, path, params)

    return Handler
