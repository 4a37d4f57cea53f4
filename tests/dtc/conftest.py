"""A DTC server on a free loopback port, run by its own event loop in a thread.

The tests drive it with the blocking client in `client.py`, so test code and server never share a loop,
as with a real Sierra Chart on the other end of the socket.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine

from mdtool.dtc.live import TickHub
from mdtool.dtc.server import DtcServer
from mdtool.dtc.session import ServerConfig
from mdtool.storage.engine import create_engine
from tests.dtc.client import DtcClient


@dataclass
class RunningServer:
    engine: Engine
    host: str = "127.0.0.1"
    port: int = 0
    loop: asyncio.AbstractEventLoop | None = None
    server: DtcServer | None = None
    thread: threading.Thread | None = None
    clients: list[DtcClient] = field(default_factory=list)
    stop: asyncio.Event | None = None

    def client(self, timeout: float = 5.0) -> DtcClient:
        connected = DtcClient(self.host, self.port, timeout)
        self.clients.append(connected)
        return connected

    def call(self, function: Callable[[], Any]) -> Any:
        """Run `function` on the server's loop and return its result (for white-box checks)."""
        assert self.loop is not None

        async def wrapper() -> Any:
            return function()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout=5)

    def shutdown(self) -> None:
        for connected in self.clients:
            connected.close()
        assert self.loop is not None and self.stop is not None and self.thread is not None
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)
        assert not self.thread.is_alive(), "DTC server did not stop"


def start_server(engine: Engine, config: ServerConfig, hub_options: dict[str, Any]) -> RunningServer:
    running = RunningServer(engine)
    ready = threading.Event()

    async def main() -> None:
        running.loop = asyncio.get_running_loop()
        running.server = DtcServer(engine, config, TickHub(engine, **hub_options))
        running.host, running.port = await running.server.start("127.0.0.1", 0)
        running.stop = asyncio.Event()
        ready.set()
        await running.stop.wait()
        await running.server.close()

    running.thread = threading.Thread(target=asyncio.run, args=(main(),), name="dtc-server", daemon=True)
    running.thread.start()
    assert ready.wait(10), "DTC server did not start"
    return running


def _factory(url: str) -> Iterator[Callable[..., RunningServer]]:
    engine = create_engine(url)
    started: list[RunningServer] = []

    def factory(
        username: str | None = None,
        password: str | None = None,
        queue_limit: int = 8 * 1024 * 1024,
        history_page: int = 5_000,
        **hub_options: Any,
    ) -> RunningServer:
        config = ServerConfig(
            username, password, logon_timeout=5.0, queue_limit=queue_limit, history_page=history_page
        )
        running = start_server(engine, config, hub_options)
        started.append(running)
        return running

    yield factory
    for running in started:
        running.shutdown()
    engine.dispose()


@pytest.fixture
def dtc_factory(pg_url: str) -> Iterator[Callable[..., RunningServer]]:
    """Start DTC servers on the test's fresh PostgreSQL database; all are stopped at teardown."""
    yield from _factory(pg_url)


@pytest.fixture
def sqlite_dtc_factory(sqlite_url: str) -> Iterator[Callable[..., RunningServer]]:
    """The same on SQLite, for protocol tests that need no stored data (and for SQLite support)."""
    yield from _factory(sqlite_url)
