"""DTC push throughput: MARKET_DATA_UPDATE_TRADE messages per second to one client over loopback.

    .venv/bin/python bench/dtc.py [--messages 2000000] [--batch 1000] [--encoding 0|2|3]
    .venv/bin/python bench/dtc.py --database [--messages 200000] [--batch 2000] [--database-url URL]
    .venv/bin/python bench/dtc.py --history [--bars 525600] [--ticks 2000000] [--database-url URL]

`--history` measures historical answers against a plain psycopg fetch of the same rows, with the live
delay another client sees meanwhile (see bench/dtc_history.py).

The server runs in this process exactly as `mdtool dtc-push` runs it (`DtcServer`, one `Session`, the
`TickHub` fan-out, binary batch encoding, the bounded per-client outbox). The client runs in a separate
process (its own GIL): it logs on and subscribes with hand-packed structs, then counts bytes as fast as
the socket delivers them and decodes the last message to check it.

Default mode measures the push path: batches of stored rows (as a poll returns them) are converted
and fanned out by the hub, so the database is not what is measured. Target: >= 300,000
messages/s. `--database` measures the whole live path instead: a writer process stores ticks with
`write_ticks` (COPY) into TimescaleDB as fast as it can, and the hub's poll finds and pushes them; it
reports the stored and pushed rates and the lag from the writer's last commit to the client's last byte.
Without `--database-url` a throw-away TimescaleDB cluster is started (tests/pg_cluster.py). Not a test:
no asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path

from sqlalchemy import text

# Run as a script, this file's directory comes first on sys.path: keep `bench/` from shadowing packages.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"] + [str(ROOT)]

from mdtool.dtc.feed import StoredTick  # noqa: E402
from mdtool.dtc.live import to_trade  # noqa: E402
from mdtool.dtc.server import DtcServer  # noqa: E402
from mdtool.dtc.session import ServerConfig  # noqa: E402
from mdtool.migrate import upgrade  # noqa: E402
from mdtool.records import Tick  # noqa: E402
from mdtool.storage.engine import create_engine  # noqa: E402
from mdtool.storage.writer import write_ticks  # noqa: E402

SERIES = ("binance", "BTCUSDT")
INGESTED_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_market_data_ticks_series_ingested "
    "ON market_data_ticks (exchange, symbol, ingested_at)"
)
TRADE_SIZE = 40
LOGON = struct.pack("<HHi32s32s64siiii32s64s32si", 284, 1, 8, b"", b"", b"", 0, 0, 0, 0, b"", b"", b"b", 0)
SUBSCRIBE = struct.pack("<HHiI64s16sI", 96, 101, 1, 7, b"BTCUSDT", b"binance", 0)
JSON_SUBSCRIBE = b'{"Type":101,"RequestAction":1,"SymbolID":7,"Symbol":"BTCUSDT","Exchange":"binance"}\0'


def client(port: int, count: int, encoding: int, results: Connection) -> None:
    """Subscribe, say so, then count trades until `count` arrived (or 120 s passed)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    if encoding == 0:
        sock.sendall(LOGON + SUBSCRIBE)
        tail = _read_past(sock, lambda data: len(data) >= 256 + 144, 256 + 144)
    else:
        sock.sendall(struct.pack("<HHii4s", 16, 6, 8, encoding, b"DTC"))
        _read_past(sock, lambda data: len(data) >= 16, 16)
        sock.sendall(b'{"Type":1,"HeartbeatIntervalInSeconds":0}\0' + JSON_SUBSCRIBE)
        tail = _read_past(sock, lambda data: data.count(0) >= 2, None)
    results.send("subscribed")
    received = len(tail) if encoding == 0 else tail.count(0)
    view = memoryview(bytearray(8 << 20))
    started = time.perf_counter() if received else 0.0
    sock.settimeout(120)
    while received < count * (TRADE_SIZE if encoding == 0 else 1):
        n = sock.recv_into(view)
        if n == 0:
            break
        started = started or time.perf_counter()
        chunk = bytes(view[:n])
        received += n if encoding == 0 else chunk.count(0)
        tail = (tail + chunk)[-200:]
    elapsed = time.perf_counter() - started
    messages = received // TRADE_SIZE if encoding == 0 else received
    last = repr(struct.unpack("<HHIH6x3d", tail[-TRADE_SIZE:])) if encoding == 0 else tail.split(b"\0")[-2]
    results.send((messages, elapsed, time.time(), last))
    sock.close()


def _read_past(sock: socket.socket, done: Callable[[bytes], bool], cut: int | None) -> bytes:
    """Read the replies to logon and subscribe; returns what arrived after them."""
    data = b""
    while not done(data):
        data += sock.recv(65536)
    if cut is not None:
        return data[cut:]
    return data.split(b"\0", 2)[2]


def writer(url: str, count: int, batch: int, results: Connection) -> None:
    """Another process storing ticks as fast as it can, as `mdtool stream` would."""
    engine = create_engine(url)
    start = datetime.now(UTC)
    started = time.perf_counter()
    for first in range(0, count, batch):
        write_ticks(
            engine,
            [
                Tick(
                    *SERIES,
                    start + timedelta(microseconds=n),
                    "trade",
                    str(n),
                    Decimal("42000.5"),
                    Decimal("0.01"),
                    "buy",
                )
                for n in range(first, min(first + batch, count))
            ],
        )
    results.send((time.perf_counter() - started, time.time()))
    engine.dispose()


async def fan_out(server: DtcServer, count: int, batch: int) -> float:
    """What one poll per series does: convert a batch of stored rows, hand it to the hub."""
    now = datetime.now(UTC)
    rows = [
        StoredTick((now, "trade", str(i)), now, 42000 + i % 100 / 100, 0.001, "buy") for i in range(batch)
    ]
    started = time.perf_counter()
    for _ in range(count // batch):
        server.hub.publish(SERIES, [to_trade(row) for row in rows])
        await asyncio.sleep(0)  # let the client's writer run, as between two polls
    return time.perf_counter() - started


async def run(url: str, count: int, batch: int, through_database: bool, encoding: int) -> None:
    engine = create_engine(url)
    server = DtcServer(engine, ServerConfig(queue_limit=256 << 20))
    _, port = await server.start("127.0.0.1", 0)
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    reader = ctx.Process(target=client, args=(port, count, encoding, theirs))
    reader.start()
    await asyncio.to_thread(ours.recv)  # subscribed
    if through_database:
        stored, stored_theirs = ctx.Pipe()
        producer = ctx.Process(target=writer, args=(url, count, batch, stored_theirs))
        producer.start()
        write_seconds, last_commit = await asyncio.to_thread(stored.recv)
        await asyncio.to_thread(producer.join, 30)
        print(
            f"writer stored {count:,} ticks in {write_seconds:.2f} s = {count / write_seconds:,.0f} ticks/s"
        )
    else:
        handed = await fan_out(server, count, batch)
        print(f"server handed {count:,} trades to the hub in {handed:.2f} s")
    messages, elapsed, last_byte, last = await asyncio.to_thread(ours.recv)
    await asyncio.to_thread(reader.join, 30)
    await server.close()
    engine.dispose()
    name = {0: "binary", 2: "JSON", 3: "compact JSON"}[encoding]
    print(f"client received {messages:,} MARKET_DATA_UPDATE_TRADE messages ({name}) in {elapsed:.2f} s")
    print(f"last message: {last!r}")
    if through_database:
        print(
            f"lag from the writer's last commit to the client's last byte: {(last_byte - last_commit) * 1000:.0f} ms"
        )
    print(f"=> {messages / elapsed:,.0f} messages/s pushed to one client over loopback (target >= 300,000)")


@contextmanager
def database(url: str | None, through_database: bool) -> Iterator[str]:
    if url:
        yield url
        return
    if not through_database:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    from tests.pg_cluster import PostgresCluster

    cluster = PostgresCluster()
    try:
        yield cluster.create_database("bench_dtc")
    finally:
        cluster.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=None, help="2,000,000 (200,000 with --database)")
    parser.add_argument("--batch", type=int, default=None, help="trades per poll / per write (1000 / 2000)")
    parser.add_argument("--database", action="store_true", help="measure store -> poll -> push end to end")
    parser.add_argument(
        "--encoding", type=int, choices=(0, 2, 3), default=0, help="0 binary, 2 JSON, 3 compact"
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--ingested-index",
        action="store_true",
        help="first create the index on (exchange, symbol, ingested_at) that the live poll wants",
    )
    parser.add_argument("--history", action="store_true", help="history throughput vs a plain fetch")
    parser.add_argument("--bars", type=int, default=525_600, help="1m bars to seed for --history")
    parser.add_argument("--ticks", type=int, default=2_000_000, help="ticks to seed for --history")
    args = parser.parse_args()
    if args.history:
        from bench.dtc_history import main as history_main

        with database(args.database_url, True) as url:
            upgrade(url)
            history_main(url, args.bars, args.ticks)
        return
    batch = args.batch or (2000 if args.database else 1000)
    count = (args.messages or (200_000 if args.database else 2_000_000)) // batch * batch
    with database(args.database_url, args.database) as url:
        upgrade(url)
        seed = create_engine(url)
        write_ticks(
            seed, [Tick(*SERIES, datetime(2020, 1, 1, tzinfo=UTC), "seed", "0", Decimal(1), None, None)]
        )
        if args.ingested_index:
            with seed.begin() as conn:
                conn.execute(text(INGESTED_INDEX))
        seed.dispose()
        asyncio.run(run(url, count, batch, args.database, args.encoding))


if __name__ == "__main__":
    main()
