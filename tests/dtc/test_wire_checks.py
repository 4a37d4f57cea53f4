"""What an outside DTC client checks, over loopback, with structs packed from the reference only.

Each test here stands for a check a client written from DTCProtocol.h and Sierra Chart's documentation
would make, or a misbehaving client the server must survive without harm to the others. Everything runs
on SQLite, so the module needs no PostgreSQL cluster.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mdtool.dtc.session import ServerConfig, Session
from mdtool.records import Bar, Tick
from mdtool.storage.engine import create_engine
from mdtool.storage.writer import write_bars, write_ticks
from tests.dtc import client as c
from tests.dtc.conftest import RunningServer

Factory = Callable[..., RunningServer]
BAR_OPEN = datetime(2024, 1, 1, tzinfo=UTC)
TICK_TIME = datetime(2024, 1, 2, 3, 4, 5, 123_456, tzinfo=UTC)
INT64_MAX = 2**63 - 1
UINT_MAX = 2**32 - 1


def store(url: str, bars: int = 3, ticks: int = 3) -> None:
    writer = create_engine(url)
    write_bars(
        writer,
        [
            Bar("binance", "BTCUSDT", "1m", BAR_OPEN + timedelta(minutes=i), "1", "2", "0.5", "1.5", "10")
            for i in range(bars)
        ],
    )
    write_ticks(
        writer,
        [
            Tick(
                "binance",
                "BTCUSDT",
                TICK_TIME + timedelta(seconds=i),
                "trade",
                str(i),
                Decimal("100.5"),
                Decimal("0.25"),
                "buy" if i % 2 else "sell",
            )
            for i in range(ticks)
        ],
    )
    writer.dispose()


def logged_on(server: RunningServer, heartbeat: int = 10) -> c.DtcClient:
    conn = server.client()
    conn.send(c.encoding_request(0))
    assert conn.expect(7)["Encoding"] == 0
    conn.send(c.logon_request(heartbeat=heartbeat))
    assert conn.expect(2)["Result"] == 1
    return conn


def sessions(server: RunningServer) -> int:
    assert server.server is not None
    return len(server.server._sessions)


def wait_for_sessions(server: RunningServer, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while sessions(server) != count:
        assert time.monotonic() < deadline, f"{sessions(server)} DTC sessions, expected {count}"
        time.sleep(0.01)


def still_serves(conn: c.DtcClient) -> None:
    conn.send(c.heartbeat())
    conn.send(c.security_definition_request(77, "NOPE", "binance"))
    assert conn.expect(509)["RequestID"] == 77


def test_bar_start_time_is_unix_seconds_and_tick_time_is_fractional_seconds(
    sqlite_dtc_factory: Factory, sqlite_url: str
) -> None:
    store(sqlite_url)
    conn = logged_on(sqlite_dtc_factory())
    conn.send(c.historical_request(1, "BTCUSDT", "binance", 60))
    assert conn.expect(801)["NoRecordsToReturn"] == 0
    bars = [conn.expect(803) for _ in range(3)]
    base = int(BAR_OPEN.timestamp())
    assert [b["StartDateTime"] for b in bars] == [base, base + 60, base + 120]
    conn.send(c.historical_request(2, "BTCUSDT", "binance", 0))
    assert conn.expect(801)["RecordInterval"] == 0
    ticks = [conn.expect(804) for _ in range(3)]
    assert ticks[0]["DateTime"] == pytest.approx(TICK_TIME.timestamp(), abs=1e-6)
    assert ticks[0]["DateTime"] % 1 == pytest.approx(0.123456, abs=1e-6)
    assert [t["AtBidOrAsk"] for t in ticks] == [1, 2, 1]  # sell hits the bid, buy lifts the ask


def test_no_limit_values_in_a_history_request_are_answered(
    sqlite_dtc_factory: Factory, sqlite_url: str
) -> None:
    store(sqlite_url)
    conn = logged_on(sqlite_dtc_factory())
    fmt = "<HHi64s16si4xqqIBBHB7x"
    request = struct.pack(fmt, 128, 800, 3, b"BTCUSDT", b"binance", 60, 0, INT64_MAX, UINT_MAX, 0, 0, 0, 0)
    conn.send(request)
    assert conn.expect(801)["RequestID"] == 3
    assert [conn.expect(803)["IsFinalRecord"] for _ in range(3)] == [0, 0, 1]


def test_size_below_the_header_gets_a_logoff_with_the_reason(sqlite_dtc_factory: Factory) -> None:
    server = sqlite_dtc_factory()
    other = logged_on(server)
    bad = logged_on(server)
    bad.send(struct.pack("<HH", 3, 3))
    logoff = bad.expect(5)
    assert "Size 3" in logoff["Reason"]
    assert logoff["DoNotReconnect"] == 1
    assert bad.wait_closed(timeout=3) < 3
    still_serves(other)


def test_frame_cut_off_at_end_of_stream_closes_that_session_only(sqlite_dtc_factory: Factory) -> None:
    server = sqlite_dtc_factory()
    other = logged_on(server)
    cut = server.client()
    cut.send(c.logon_request()[:100])
    cut.sock.shutdown(socket.SHUT_WR)
    assert "middle of a DTC message" in cut.expect(5)["Reason"]
    assert cut.wait_closed(timeout=3) < 3
    wait_for_sessions(server, 1)
    still_serves(other)


def test_a_huge_size_waits_for_its_bytes_without_blocking_others(sqlite_dtc_factory: Factory) -> None:
    server = sqlite_dtc_factory()
    huge = logged_on(server)
    huge.send(struct.pack("<HH", 65535, 1) + b"\0" * 1000)  # a 64 KiB LOGON_REQUEST, mostly missing
    other = logged_on(server)
    still_serves(other)
    huge.close()
    wait_for_sessions(server, 1)
    still_serves(other)


def test_garbage_stream_never_crashes_the_server(sqlite_dtc_factory: Factory) -> None:
    server = sqlite_dtc_factory()
    other = logged_on(server)
    noise = bytes((i * 151 + 7) % 256 for i in range(4096))  # deterministic "random" bytes
    for _ in range(3):
        junk = server.client()
        junk.send(noise)
        junk.close()
    wait_for_sessions(server, 1)
    still_serves(other)


def test_json_id_out_of_range_is_a_protocol_error_not_a_silent_hang(
    sqlite_dtc_factory: Factory,
) -> None:
    server = sqlite_dtc_factory()
    conn = server.client()
    conn.send(c.encoding_request(2) + b'{"Type":1,"HeartbeatIntervalInSeconds":10}\0')  # one segment
    assert conn.recv()["Encoding"] == 2  # the reply to the binary request is binary
    conn.json = True
    assert conn.expect(2)["Result"] == 1
    conn.send(b'{"Type":800,"RequestID":4294967296,"Symbol":"BTCUSDT","RecordInterval":60}\0')
    logoff = conn.expect(5)
    assert "out of range" in logoff["Reason"]
    assert conn.wait_closed(timeout=3) < 3


def test_client_leaving_mid_history_frees_its_session(
    sqlite_dtc_factory: Factory, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store(sqlite_url, bars=0, ticks=20_000)
    server = sqlite_dtc_factory(history_page=500, queue_limit=64 * 1024)
    with caplog.at_level(logging.WARNING):
        leaver = logged_on(server, heartbeat=0)
        leaver.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        leaver.send(c.historical_request(1, "BTCUSDT", "binance", 0))
        assert leaver.expect(801)["NoRecordsToReturn"] == 0
        leaver.close()
        wait_for_sessions(server, 0)
        stayer = logged_on(server)
        stayer.send(c.historical_request(2, "BTCUSDT", "binance", 0, 0, int(TICK_TIME.timestamp()) + 9))
        assert stayer.expect(801)["RequestID"] == 2
        assert [stayer.expect(804)["IsFinalRecord"] for _ in range(10)] == [0] * 9 + [1]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_many_clients_at_once(sqlite_dtc_factory: Factory, sqlite_url: str) -> None:
    store(sqlite_url)
    server = sqlite_dtc_factory()
    failures: list[BaseException] = []

    def one_client(n: int) -> None:
        try:
            conn = logged_on(server)
            conn.send(c.security_definition_request(n, "BTCUSDT", "binance"))
            assert conn.expect(507)["RequestID"] == n
            conn.send(c.market_data_request(1, n, "BTCUSDT", "binance"))
            assert conn.expect(104)["LastTradePrice"] == 100.5
            conn.send(c.historical_request(n, "BTCUSDT", "binance", 60))
            assert conn.expect(801)["RequestID"] == n
            assert [conn.expect(803)["RequestID"] for _ in range(3)] == [n] * 3
            conn.send(c.logoff())
            assert conn.wait_closed(timeout=5) < 5
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=one_client, args=(n,)) for n in range(1, 41)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures, failures[0]
    wait_for_sessions(server, 0)


def test_server_heartbeats_at_the_client_interval(sqlite_dtc_factory: Factory) -> None:
    conn = logged_on(sqlite_dtc_factory(), heartbeat=1)
    first = conn.recv(timeout=2)
    conn.send(c.heartbeat())
    second = conn.recv(timeout=2)
    received = time.monotonic()
    conn.send(c.heartbeat())
    third = conn.recv(timeout=2)
    assert [first["Type"], second["Type"], third["Type"]] == [3, 3, 3]
    assert time.monotonic() - received > 0.5  # paced by the interval, not a burst (upper bound: recv timeout)


def test_a_burst_of_connections_is_served(sqlite_dtc_factory: Factory) -> None:
    """300 clients connect before any logs on: every one gets its LOGON_RESPONSE."""
    server = sqlite_dtc_factory()
    burst = [server.client(timeout=10) for _ in range(300)]
    for conn in burst:
        conn.send(c.logon_request())
    assert all(conn.expect(2, timeout=10)["Result"] == 1 for conn in burst)
    assert sessions(server) == 300


def test_a_client_gone_before_its_session_starts_does_not_break_accepting() -> None:
    """A peer that resets before accept has no peer name; the session must still be built and end."""

    class ResetWriter:
        def get_extra_info(self, name: str, default: object = None) -> object:
            return default

    session = Session(None, ResetWriter(), None, None, ServerConfig())  # type: ignore[arg-type]
    assert session._peer == "unknown peer"


def test_max_days_of_a_stale_series_returns_its_last_days(
    sqlite_dtc_factory: Factory, sqlite_url: str
) -> None:
    store(sqlite_url)  # bars and ticks from early 2024, nothing since
    conn = logged_on(sqlite_dtc_factory())
    fmt = "<HHi64s16si4xqqIBBHB7x"
    for request_id, interval, record_type in ((4, 60, 803), (5, 0, 804)):
        days = struct.pack(fmt, 128, 800, request_id, b"BTCUSDT", b"binance", interval, 0, 0, 1, 0, 0, 0, 0)
        conn.send(days)
        assert conn.expect(801)["NoRecordsToReturn"] == 0
        assert [conn.expect(record_type)["IsFinalRecord"] for _ in range(3)] == [0, 0, 1]
