"""End to end on loopback: a spec-written client against the server, over real TCP and PostgreSQL."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mdtool.records import Bar, Tick
from mdtool.storage.engine import create_engine
from mdtool.storage.writer import write_bars, write_ticks
from tests.dtc import client as c
from tests.dtc.conftest import RunningServer

Factory = Callable[..., RunningServer]
NOW = datetime.now(UTC).replace(microsecond=0)
T0 = max(NOW - timedelta(minutes=2), NOW.replace(hour=0, minute=0, second=0))  # in today's session


def tick(n: int, price: str, side: str | None = "buy", at: datetime | None = None) -> Tick:
    moment = at or T0 + timedelta(seconds=n)
    return Tick("binance", "BTCUSDT", moment, "trade", str(n), Decimal(price), Decimal("0.5"), side)


def bar(minute: int, close: str) -> Bar:
    moment = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
    return Bar("binance", "BTCUSDT", "1m", moment, "100", "110", "90", close, "12.5", trade_count=7)


def seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def logged_on(server: RunningServer, heartbeat: int = 10, **logon: str) -> c.DtcClient:
    conn = server.client()
    conn.send(c.encoding_request(0))
    assert conn.expect(7)["Encoding"] == 0
    conn.send(c.logon_request(heartbeat=heartbeat, **logon))
    assert conn.expect(2)["Result"] == 1
    return conn


@pytest.mark.postgres
def test_full_session(dtc_factory: Factory, pg_url: str) -> None:
    writer = create_engine(pg_url)  # "another process": its own engine and connections
    write_ticks(writer, [tick(1, "42000.01", "sell"), tick(2, "42010.5"), tick(3, "41990.25")])
    write_bars(writer, [bar(0, "101"), bar(1, "102.25"), bar(2, "99")])
    server = dtc_factory()
    conn = server.client()

    conn.send(c.encoding_request(0))
    assert conn.expect(7) == {"Type": 7, "ProtocolVersion": 8, "Encoding": 0, "ProtocolType": "DTC"}
    conn.send(c.logon_request(heartbeat=1, name="pytest"))
    logon = conn.expect(2)
    assert logon["Result"] == 1
    assert logon["SecurityDefinitionsSupported"] == logon["HistoricalPriceDataSupported"] == 1
    assert logon["MarketDataSupported"] == 1
    assert logon["TradingIsSupported"] == 0

    beat = conn.recv(timeout=2.5)
    assert beat["Type"] == 3
    assert abs(beat["CurrentDateTime"] - time.time()) < 5

    conn.send(c.security_definition_request(5, "BTCUSDT", "binance"))
    definition = conn.expect(507)
    assert (definition["RequestID"], definition["Symbol"], definition["Exchange"]) == (
        5,
        "BTCUSDT",
        "binance",
    )
    assert definition["IsFinalMessage"] == 1
    assert definition["PriceDisplayFormat"] == 2
    assert definition["MinPriceIncrement"] == pytest.approx(0.01)
    conn.send(c.security_definition_request(6, "NOPE", "binance"))
    reject = conn.expect(509)
    assert reject["RequestID"] == 6
    assert "NOPE" in reject["RejectText"]

    conn.send(c.market_data_request(1, 11, "BTCUSDT", "binance"))
    snapshot = conn.expect(104)
    assert snapshot["SymbolID"] == 11
    assert snapshot["LastTradePrice"] == 41990.25
    assert snapshot["LastTradeVolume"] == 0.5
    assert snapshot["LastTradeDateTime"] == seconds(T0) + 3
    assert (snapshot["SessionHighPrice"], snapshot["SessionLowPrice"]) == (42010.5, 41990.25)
    assert snapshot["SessionNumTrades"] == 3
    assert snapshot["SessionVolume"] == 1.5
    assert snapshot["BidPrice"] == snapshot["AskPrice"] == struct.unpack("<d", b"\xff" * 6 + b"\xef\x7f")[0]

    conn.send(c.heartbeat())
    write_ticks(writer, [tick(4, "42001.75", "buy"), tick(5, "42000", "sell")])
    committed = time.monotonic()
    first = conn.expect(107, timeout=2)
    latency = time.monotonic() - committed
    second = conn.expect(107, timeout=2)
    assert latency < 0.25, f"live push took {latency * 1000:.0f} ms"
    assert first == {
        "Type": 107,
        "SymbolID": 11,
        "AtBidOrAsk": 2,
        "Price": 42001.75,
        "Volume": 0.5,
        "DateTime": seconds(T0) + 4,
    }
    assert (second["AtBidOrAsk"], second["Price"]) == (1, 42000.0)

    conn.send(c.market_data_request(2, 11))
    conn.send(c.heartbeat())
    write_ticks(writer, [tick(6, "43000")])
    conn.assert_silent(107, seconds=0.5)  # five polls: the unsubscribed series pushes nothing
    conn.send(c.heartbeat())
    conn.send(c.historical_request(21, "BTCUSDT", "binance", 60))
    header = conn.expect(801)
    assert (header["RequestID"], header["RecordInterval"], header["NoRecordsToReturn"]) == (21, 60, 0)
    records = [conn.expect(803) for _ in range(3)]
    assert [r["LastPrice"] for r in records] == [101.0, 102.25, 99.0]
    assert [r["IsFinalRecord"] for r in records] == [0, 0, 1]
    assert records[0]["StartDateTime"] == seconds(datetime(2024, 1, 1, tzinfo=UTC))
    assert (records[0]["OpenPrice"], records[0]["HighPrice"], records[0]["LowPrice"]) == (100, 110, 90)
    assert (records[0]["Volume"], records[0]["NumTrades"]) == (12.5, 7)

    conn.send(c.historical_request(22, "BTCUSDT", "binance", 0, seconds(T0) + 2, seconds(T0) + 5))
    assert conn.expect(801)["NoRecordsToReturn"] == 0
    ticks = [conn.expect(804) for _ in range(4)]
    assert [t["Price"] for t in ticks] == [42010.5, 41990.25, 42001.75, 42000.0]
    assert [t["AtBidOrAsk"] for t in ticks] == [2, 2, 2, 1]
    assert [t["IsFinalRecord"] for t in ticks] == [0, 0, 0, 1]
    assert ticks[0]["DateTime"] == seconds(T0) + 2

    conn.send(c.historical_request(23, "BTCUSDT", "binance", 3600, 1, 1000))
    empty = conn.expect(801)
    assert (empty["RequestID"], empty["NoRecordsToReturn"]) == (23, 1)
    conn.send(c.historical_request(24, "NOPE", "binance", 60))
    assert conn.expect(802)["RequestID"] == 24
    conn.send(c.historical_request(25, "BTCUSDT", "binance", 7))
    assert "RecordInterval" in conn.expect(802)["RejectText"]

    conn.send(c.logoff("done"))
    assert conn.wait_closed(timeout=3) < 3
    writer.dispose()


@pytest.mark.postgres
def test_history_in_pages_marks_only_the_last_record_final(dtc_factory: Factory, pg_url: str) -> None:
    writer = create_engine(pg_url)
    write_bars(writer, [bar(i, "100") for i in range(7)])
    same_time = [tick(n, str(n), at=T0) for n in range(1, 6)]  # five trades in one microsecond
    write_ticks(writer, same_time)
    server = dtc_factory(history_page=2)
    conn = logged_on(server)
    conn.send(c.historical_request(1, "BTCUSDT", "binance", 60))
    assert conn.expect(801)["NoRecordsToReturn"] == 0
    bars = [conn.expect(803) for _ in range(7)]
    assert [b["IsFinalRecord"] for b in bars] == [0] * 6 + [1]
    assert len({b["StartDateTime"] for b in bars}) == 7
    conn.send(c.historical_request(2, "BTCUSDT", "binance", 0))
    assert conn.expect(801)["RequestID"] == 2
    trades = [conn.expect(804) for _ in range(5)]
    assert sorted(t["Price"] for t in trades) == [1, 2, 3, 4, 5]
    assert [t["IsFinalRecord"] for t in trades] == [0, 0, 0, 0, 1]
    writer.dispose()


@pytest.mark.postgres
def test_unknown_symbol_is_rejected_and_symbol_id_rules(dtc_factory: Factory, pg_url: str) -> None:
    writer = create_engine(pg_url)
    write_ticks(writer, [tick(1, "1"), Tick("binance", "ETHUSDT", T0, "trade", "1", Decimal(2))])
    server = dtc_factory()
    conn = logged_on(server)
    conn.send(c.market_data_request(1, 1, "NOPE", "binance"))
    reject = conn.expect(103)
    assert reject["SymbolID"] == 1
    assert "NOPE" in reject["RejectText"]
    conn.send(c.market_data_request(1, 1, "BTCUSDT"))  # Exchange omitted: unique symbol
    assert conn.expect(104)["LastTradePrice"] == 1.0
    conn.send(c.market_data_request(1, 2, "BTCUSDT", "binance"))
    assert "already subscribed" in conn.expect(103)["RejectText"]
    conn.send(c.market_data_request(1, 1, "ETHUSDT", "binance"))
    assert "already used" in conn.expect(103)["RejectText"]
    conn.send(c.market_data_request(3, 9, "ETHUSDT-binance"))  # SYMBOL-EXCHANGE, snapshot only
    assert conn.expect(104)["SymbolID"] == 9
    writer.dispose()


@pytest.mark.postgres
def test_logon_with_credentials(dtc_factory: Factory, pg_url: str) -> None:
    server = dtc_factory(username="alice", password="s3cret")
    bad = server.client()
    bad.send(c.logon_request("alice", "wrong"))  # no encoding request: Sierra's "skip" option
    refused = bad.expect(2)
    assert refused["Result"] in (2, 3)
    assert "password" in refused["ResultText"]
    assert bad.wait_closed(timeout=3) < 3

    early = server.client()
    early.send(c.market_data_request(1, 1, "BTCUSDT", "binance"))
    assert "not logged on" in early.expect(103)["RejectText"]

    good = logged_on(server, username="alice", password="s3cret")
    good.send(c.heartbeat())
    good.send(c.security_definition_request(1, "BTCUSDT", "binance"))
    assert good.expect(509)["RequestID"] == 1


def test_silent_client_is_dropped_after_two_heartbeat_intervals(sqlite_dtc_factory: Factory) -> None:
    server = sqlite_dtc_factory()
    conn = logged_on(server, heartbeat=1)
    started = time.monotonic()
    assert "heartbeat timeout" in conn.expect(5, timeout=6)["Reason"]  # heartbeats skipped; LOGOFF says why
    conn.wait_closed(timeout=3)
    assert (
        time.monotonic() - started >= 2.0
    )  # not before two missed intervals (upper bound: the timeouts above)


@pytest.mark.postgres
def test_json_encoding_session(dtc_factory: Factory, pg_url: str) -> None:
    writer = create_engine(pg_url)
    write_ticks(writer, [tick(1, "42000.01")])
    server = dtc_factory(poll_interval=0.05)
    conn = server.client()
    conn.send(c.encoding_request(2))
    assert conn.recv() == {"Type": 7, "ProtocolVersion": 8, "Encoding": 2, "ProtocolType": "DTC"}
    conn.json = True
    logon = {"Type": 1, "ProtocolVersion": 8, "HeartbeatIntervalInSeconds": 10, "ClientName": "json"}
    conn.send(json.dumps(logon).encode() + b"\0")
    reply = conn.expect(2)
    assert reply["Result"] == 1
    assert reply["ServerName"] == "mdtool"
    request = {"Type": 101, "RequestAction": 1, "SymbolID": 4, "Symbol": "BTCUSDT", "Exchange": "binance"}
    conn.send(json.dumps(request).encode() + b"\0")
    snapshot = conn.expect(104)
    assert snapshot["LastTradePrice"] == 42000.01
    assert snapshot["BidPrice"] is None
    write_ticks(writer, [tick(2, "42002")])
    assert conn.expect(107) == {
        "Type": 107,
        "SymbolID": 4,
        "AtBidOrAsk": 2,
        "Price": 42002,
        "Volume": 0.5,
        "DateTime": seconds(T0) + 2,
    }
    writer.dispose()


@pytest.mark.postgres
def test_compact_json_pushes_trades_as_arrays(dtc_factory: Factory, pg_url: str) -> None:
    writer = create_engine(pg_url)
    write_ticks(writer, [tick(1, "5")])
    server = dtc_factory(poll_interval=0.05)
    conn = server.client()
    conn.send(c.encoding_request(3))
    assert conn.recv()["Encoding"] == 3
    conn.json = True
    conn.send(b'{"Type":1,"HeartbeatIntervalInSeconds":10}\0')
    assert conn.expect(2)["Result"] == 1
    conn.send(b'{"Type":101,"RequestAction":1,"SymbolID":2,"Symbol":"BTCUSDT","Exchange":"binance"}\0')
    assert conn.expect(104)["F"][0] == 2
    write_ticks(writer, [tick(2, "6", "sell")])
    assert conn.expect(107)["F"] == [2, 1, 6, 0.5, seconds(T0) + 2]
    writer.dispose()


def test_json_client_that_skips_the_encoding_request(sqlite_dtc_factory: Factory) -> None:
    conn = sqlite_dtc_factory().client()
    conn.json = True
    conn.send(b'{"Type":1,"ProtocolVersion":8,"HeartbeatIntervalInSeconds":10}\0')
    assert conn.expect(2)["Result"] == 1
    conn.send(b'{"Type":506,"RequestID":3,"Symbol":"X","Exchange":"y"}\0')
    assert conn.expect(509)["RequestID"] == 3


def test_logon_request_of_a_2020_client_is_280_bytes(sqlite_dtc_factory: Factory) -> None:
    conn = sqlite_dtc_factory().client()
    old = c.logon_request(heartbeat=7, name="sc-2020")[:280]
    conn.send(struct.pack("<H", 280) + old[2:])
    assert conn.expect(2)["Result"] == 1


def test_database_down_rejects_requests_but_keeps_the_session(sqlite_dtc_factory: Factory) -> None:
    server = sqlite_dtc_factory()
    conn = logged_on(server)
    with server.engine.begin() as db:
        db.exec_driver_sql("ALTER TABLE market_data_ticks RENAME TO hidden")
    conn.send(c.market_data_request(1, 1, "BTCUSDT", "binance"))
    assert "unavailable" in conn.expect(103)["RejectText"]
    conn.send(c.historical_request(2, "BTCUSDT", "binance", 0))
    assert "unavailable" in conn.expect(802)["RejectText"]
    conn.send(c.heartbeat())
    conn.send(c.security_definition_request(3, "BTCUSDT", "binance"))
    assert "unavailable" in conn.expect(509)["RejectText"]


def test_unsupported_encoding_answers_with_binary(sqlite_dtc_factory: Factory) -> None:
    conn = sqlite_dtc_factory().client()
    conn.send(c.encoding_request(4))
    assert conn.expect(7)["Encoding"] == 0
    conn.send(c.logon_request())
    assert conn.expect(2)["Result"] == 1


@pytest.mark.postgres
def test_slow_client_is_dropped_without_stalling_others(dtc_factory: Factory, pg_url: str) -> None:
    writer = create_engine(pg_url)
    write_ticks(writer, [tick(1, "1")])
    server = dtc_factory(queue_limit=64 * 1024)
    slow = server.client()
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for conn in (slow, fast := server.client()):
        conn.send(c.logon_request(heartbeat=0))
        assert conn.expect(2)["Result"] == 1
        conn.send(c.market_data_request(1, 1, "BTCUSDT", "binance"))
        conn.expect(104)
    batch = [(0, 1.0, 1.0, 1.0)] * 1000
    rounds = 200
    expected = rounds * len(batch) * 40  # MARKET_DATA_UPDATE_TRADE is 40 bytes
    received: list[int] = []

    def drain_fast_client() -> None:
        count = len(fast.buffer)
        fast.sock.settimeout(5)
        while count < expected:
            chunk = fast.sock.recv(1 << 20)
            if not chunk:
                break
            count += len(chunk)
        received.append(count)

    reader = threading.Thread(target=drain_fast_client)
    reader.start()
    for _ in range(rounds):
        server.call(lambda: server.server.hub.publish(("binance", "BTCUSDT"), batch))  # type: ignore[union-attr]
    reader.join(10)
    assert received == [expected]
    assert slow.wait_closed(timeout=5) < 5
    writer.dispose()


def test_garbage_from_client_closes_its_connection_only(sqlite_dtc_factory: Factory) -> None:
    server = sqlite_dtc_factory()
    other = logged_on(server)
    bad = server.client()
    bad.send(struct.pack("<HH", 2, 1))
    assert bad.wait_closed(timeout=3) < 3
    other.send(c.heartbeat())
    other.send(c.security_definition_request(1, "X", "y"))
    assert other.expect(509)["RequestID"] == 1


def test_live_push_on_sqlite(sqlite_dtc_factory: Factory, sqlite_url: str) -> None:
    writer = create_engine(sqlite_url)
    write_ticks(writer, [tick(1, "10")])
    server = sqlite_dtc_factory()
    conn = logged_on(server)
    conn.send(c.market_data_request(1, 3, "BTCUSDT", "binance"))
    assert conn.expect(104)["LastTradePrice"] == 10.0
    write_ticks(writer, [tick(2, "11", None)])
    committed = time.monotonic()
    update = conn.expect(107)
    assert time.monotonic() - committed < 0.25
    assert (update["SymbolID"], update["AtBidOrAsk"], update["Price"]) == (3, 0, 11.0)
    writer.dispose()
