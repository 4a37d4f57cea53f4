"""What a supervisor reads from a running server: its address and counters, through `serve(started=)`."""

from __future__ import annotations

import asyncio
import struct

from mdtool.dtc.server import DtcServer, serve
from mdtool.dtc.session import ServerConfig
from mdtool.storage.engine import create_engine
from tests.dtc import client as c


async def logon(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(c.logon_request(heartbeat=0))
    size, type_id = struct.unpack("<HH", await reader.readexactly(4))
    await reader.readexactly(size - 4)
    assert type_id == 2
    return reader, writer


async def until(condition: object, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_serve_hands_over_the_server_and_its_counters(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)

    async def scenario() -> None:
        stop = asyncio.Event()
        started: list[DtcServer] = []
        task = asyncio.create_task(serve(engine, "127.0.0.1", 0, ServerConfig(), stop, started.append))
        await until(lambda: bool(started))
        server = started[0]
        assert server.address is not None
        port = server.address[1]
        first = await logon(port)
        second = await logon(port)
        stats = server.stats
        assert (stats.clients_connected, stats.clients_total) == (2, 2)
        assert stats.messages_sent == 2  # two LOGON_RESPONSEs
        first[1].close()
        await until(lambda: stats.clients_connected == 1)
        assert stats.clients_total == 2
        stop.set()
        await task
        assert stats.clients_connected == 0
        second[1].close()

    asyncio.run(scenario())
    engine.dispose()
