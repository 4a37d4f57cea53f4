"""The DTC listener: accepts TCP clients and runs one `Session` each, sharing one `TickHub`.

`serve()` is the library entry point (`mdtool dtc-push` and the `mdtool run` supervisor both use it);
`DtcServer.stats` holds the counters a supervisor reads (clients connected, messages sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

from sqlalchemy import Engine

from mdtool.dtc.live import TickHub
from mdtool.dtc.session import ServerConfig, Session
from mdtool.dtc.stats import ServerStats

log = logging.getLogger(__name__)
_BACKLOG = 1024


class DtcServer:
    """Listens for DTC clients; every session shares one `TickHub` and counts into `stats`."""

    def __init__(
        self, engine: Engine, config: ServerConfig | None = None, hub: TickHub | None = None
    ) -> None:
        self._engine = engine
        self._config = config or ServerConfig()
        self.hub = hub or TickHub(engine)
        self.stats = ServerStats()
        self.address: tuple[str, int] | None = None  # once listening
        self._server: asyncio.Server | None = None
        self._sessions: dict[Session, asyncio.Task[None]] = {}

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; returns the bound address (port 0 picks a free one)."""
        # A deep accept queue: a burst of clients connecting at once (a Sierra Chart restart with many
        # charts, a test harness) must not see SYNs dropped and retried seconds later.
        self._server = await asyncio.start_server(self._accept, host, port, backlog=_BACKLOG)
        bound = self._server.sockets[0].getsockname()
        log.info("DTC server listening on %s:%s", bound[0], bound[1])
        self.address = (bound[0], bound[1])
        return self.address

    async def close(self, reason: str = "server shutting down") -> None:
        """Stop listening, log every client off, and wait for their sessions to end."""
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            await session.logoff(reason)
        tasks = list(self._sessions.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.hub.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # a client that already reset; its session just ends
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = Session(reader, writer, self._engine, self.hub, self._config, self.stats)
        task = asyncio.current_task()
        assert task is not None
        self._sessions[session] = task
        self.stats.clients_connected += 1
        self.stats.clients_total += 1
        try:
            await session.run()
        finally:
            self._sessions.pop(session, None)
            self.stats.clients_connected -= 1


async def serve(
    engine: Engine,
    host: str,
    port: int,
    config: ServerConfig,
    stop: asyncio.Event,
    started: Callable[[DtcServer], None] | None = None,
) -> None:
    """Run a server until `stop` is set, then shut it down cleanly.

    `started` is called with the listening server (its bound address aside, `server.stats` is what a
    supervisor keeps to read the counters).
    """
    server = DtcServer(engine, config)
    await server.start(host, port)
    if started is not None:
        started(server)
    try:
        await stop.wait()
    finally:
        await server.close()
