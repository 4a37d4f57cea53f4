"""DTC history throughput against its ceiling, first-record latency, memory, and live delay meanwhile.

    .venv/bin/python bench/dtc.py --history [--bars 525600] [--ticks 2000000] [--database-url URL]

Seeds one year of 1m bars and 2M ticks into TimescaleDB (a throw-away cluster unless `--database-url`),
then for each case measures IN THE SAME RUN:
- the ceiling: a plain psycopg fetch (`cursor.execute` + `fetchall`) of the same rows;
- `mdtool dtc-push`'s server (in this process, as the command runs it) answering a
  HISTORICAL_PRICE_DATA_REQUEST to a client in another process that reads every record: records/s,
  ratio to the ceiling, time from request to the first record, and the growth of this process's RSS;
- a second client subscribed to a live series, fed by a writer process storing one trade every 20 ms:
  the worst delay from a trade's event time to its arrival, before and during the download.
The zlib case reports the compression ratio. Not a test: no asserts.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import struct
import time
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path

import psycopg

from mdtool.dtc.server import DtcServer
from mdtool.dtc.session import ServerConfig
from mdtool.records import Tick
from mdtool.storage.engine import create_engine
from mdtool.storage.writer import write_ticks

LOGON = struct.pack("<HHi32s32s64siiii32s64s32si", 284, 1, 8, b"", b"", b"", 0, 0, 0, 0, b"", b"", b"b", 0)
BARS_SQL = """
INSERT INTO market_data_ohlcv (exchange, symbol, interval, timestamp, open, high, low, close, volume, trade_count)
SELECT 'binance', 'BTCUSDT', '1m', '2023-01-02'::timestamptz + i * interval '1 minute',
       42000 + (i %% 997) * 0.01, 42010 + (i %% 991) * 0.01, 41990 + (i %% 983) * 0.01,
       42000 + (i %% 977) * 0.01, (i %% 1000) * 0.001 + 0.5, i %% 5000
FROM generate_series(0, %s - 1) AS i
"""
TICKS_SQL = """
INSERT INTO market_data_ticks (exchange, symbol, timestamp, source, trade_id, price, size, side)
SELECT 'binance', 'BTCUSDT', '2024-01-02'::timestamptz + i * interval '1500 microseconds', 'trade', i::text,
       42000 + (i %% 997) * 0.01, (i %% 100) * 0.001 + 0.001, CASE WHEN i %% 2 = 0 THEN 'buy' ELSE 'sell' END
FROM generate_series(0, %s - 1) AS i
"""
CEILINGS = {
    "bars": "SELECT timestamp, open, high, low, close, volume, trade_count FROM market_data_ohlcv "
    "WHERE exchange = 'binance' AND symbol = 'BTCUSDT' AND interval = '1m' ORDER BY timestamp",
    "ticks": "SELECT timestamp, price, size, side FROM market_data_ticks "
    "WHERE exchange = 'binance' AND symbol = 'BTCUSDT' ORDER BY timestamp, source, trade_id",
}


def conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def seed(url: str, bars: int, ticks: int) -> None:
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        stored = conn.execute("SELECT count(*) FROM market_data_ohlcv WHERE symbol = 'BTCUSDT'").fetchone()
        if stored and stored[0]:  # a --database-url seeded by an earlier run
            print(f"reusing the {stored[0]:,} bars (and the ticks) already stored")
            return
        started = time.perf_counter()
        conn.execute(BARS_SQL, (bars,))  # type: ignore[arg-type]
        conn.execute(TICKS_SQL, (ticks,))  # type: ignore[arg-type]
        conn.execute(
            "INSERT INTO market_data_ticks (exchange, symbol, timestamp, source, trade_id, price) "
            "VALUES ('binance', 'LIVE', now(), 'trade', '0', 1)"
        )  # the live series exists before its client subscribes
        conn.execute("VACUUM ANALYZE")
        print(f"seeded {bars:,} 1m bars and {ticks:,} ticks in {time.perf_counter() - started:.1f} s")


def ceiling(url: str, kind: str) -> tuple[int, float]:
    with psycopg.connect(conninfo(url)) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        cur.execute(CEILINGS[kind])  # type: ignore[arg-type]
        rows = cur.fetchall()
        return len(rows), time.perf_counter() - started


def request(interval: int, use_zlib: bool) -> bytes:
    fmt = "<HHi64s16si4xqqIBBHB7x"
    return struct.pack(fmt, 128, 800, 1, b"BTCUSDT", b"binance", interval, 0, 0, 0, int(use_zlib), 0, 0, 0)


def history_client(port: int, interval: int, use_zlib: bool, results: Connection) -> None:
    """Log on, request, read every record; report (records, first-record s, total s, wire bytes)."""
    size = 48 if interval == 0 else 88
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.sendall(LOGON)
    data = b""
    while len(data) < 256:
        data += sock.recv(65536)
    results.recv()  # go
    started = time.perf_counter()
    sock.sendall(request(interval, use_zlib))
    data = data[256:]
    while len(data) < 24:
        data += sock.recv(1 << 20)
    inflater = zlib.decompressobj() if use_zlib else None
    pending, wire, total, first, tail = data[24:], len(data) - 24, 0, 0.0, b""
    view = memoryview(bytearray(4 << 20))
    while True:
        plain = inflater.decompress(pending) if inflater else pending
        if plain and not first:
            first = time.perf_counter() - started
        total += len(plain)
        tail = plain[-size:] if len(plain) >= size else (tail + plain)[-size:]
        if inflater is not None:
            done = inflater.eof
        else:
            done = total > 0 and total % size == 0 and tail[size - 8] == 1
        if done:
            break
        n = sock.recv_into(view)
        if n == 0:
            break
        pending, wire = bytes(view[:n]), wire + n
    records = total // size
    results.send((records, first, time.perf_counter() - started, wire))
    sock.close()


def live_client(port: int, results: Connection) -> None:
    """Subscribe to the live series; on request, report the worst delays seen since the last report."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(LOGON + struct.pack("<HHiI64s16sI", 96, 101, 1, 9, b"LIVE", b"binance", 0))
    data = b""
    while len(data) < 256 + 144:
        data += sock.recv(65536)
    data = data[400:]
    results.send("subscribed")
    sock.settimeout(0.05)
    delays: list[float] = []
    while True:
        if results.poll():
            if results.recv() == "stop":
                break
            results.send(sorted(delays))
            delays = []
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        now = time.time()
        data += chunk
        while len(data) >= 40:
            (moment,) = struct.unpack_from("<d", data, 32)
            delays.append(now - moment)
            data = data[40:]
    sock.close()


def trade_writer(url: str, results: Connection) -> None:
    """One trade every 20 ms, stamped with the time it is written, until told to stop."""
    engine = create_engine(url)
    n = 0
    while not results.poll():
        n += 1
        now = datetime.now(UTC)
        write_ticks(
            engine, [Tick("binance", "LIVE", now, "trade", str(n), Decimal("1.5"), Decimal(1), "buy")]
        )
        time.sleep(0.02)
    engine.dispose()


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def measure_case(
    port: int,
    ctx: multiprocessing.context.SpawnContext,
    live: Connection,
    name: str,
    interval: int,
    use_zlib: bool,
) -> tuple[int, float, float, int, int, list[float]]:
    ours, theirs = ctx.Pipe()
    reader = ctx.Process(target=history_client, args=(port, interval, use_zlib, theirs))
    reader.start()
    await asyncio.sleep(1.0)  # logged on
    live.send("report")
    await asyncio.to_thread(live.recv)  # discard delays before the download
    base, peak = rss_kib(), 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss_kib())
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    ours.send("go")
    records, first, elapsed, wire = await asyncio.to_thread(ours.recv)
    sampler.cancel()
    live.send("report")
    delays = await asyncio.to_thread(live.recv)
    await asyncio.to_thread(reader.join, 30)
    return records, first, elapsed, wire, peak - base, delays


async def run(url: str) -> None:
    engine = create_engine(url)
    server = DtcServer(engine, ServerConfig())
    _, port = await server.start("127.0.0.1", 0)
    ctx = multiprocessing.get_context("spawn")
    writer_ours, writer_theirs = ctx.Pipe()
    writer = ctx.Process(target=trade_writer, args=(url, writer_theirs))
    writer.start()
    live, live_theirs = ctx.Pipe()
    watcher = ctx.Process(target=live_client, args=(port, live_theirs))
    watcher.start()
    await asyncio.to_thread(live.recv)
    await asyncio.sleep(3.0)
    live.send("report")
    baseline = await asyncio.to_thread(live.recv)
    print(
        f"live delay with no download: worst {_ms(baseline[-1] if baseline else 0)} over {len(baseline)} trades"
    )
    for name, interval, kind, use_zlib in (
        ("1m bars", 60, "bars", False),
        ("ticks", 0, "ticks", False),
        ("1m bars, zlib", 60, "bars", True),
    ):
        rows, fetch_s = await asyncio.to_thread(ceiling, url, kind)
        records, first, elapsed, wire, rss, delays = await measure_case(
            port, ctx, live, name, interval, use_zlib
        )
        fetch_rate, rate = rows / fetch_s, records / elapsed
        print(f"{name}: plain psycopg fetch {rows:,} rows in {fetch_s:.2f} s = {fetch_rate:,.0f} rows/s")
        print(
            f"{name}: DTC {records:,} records in {elapsed:.2f} s = {rate:,.0f} records/s "
            f"=> ratio {rate / fetch_rate:.2f}; first record after {_ms(first)}; server RSS +{rss / 1024:.1f} MiB"
        )
        if use_zlib:
            print(
                f"{name}: zlib wire bytes {wire:,} for {records * 88:,} bytes of records: ratio {wire / (records * 88):.3f}"
            )
        worst = delays[-1] if delays else 0.0
        p99 = delays[int(len(delays) * 0.99)] if delays else 0.0
        print(f"{name}: live delay meanwhile: worst {_ms(worst)}, p99 {_ms(p99)} over {len(delays)} trades")
    live.send("stop")
    writer_ours.send("stop")
    await asyncio.to_thread(watcher.join, 10)
    await asyncio.to_thread(writer.join, 10)
    await server.close()
    engine.dispose()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main(url: str, bars: int, ticks: int) -> None:
    seed(url, bars, ticks)
    asyncio.run(run(url))
