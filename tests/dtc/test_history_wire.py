"""History over the wire: chart intervals built from finer data, zlib, and whose fault a failure is."""

from __future__ import annotations

import logging
import zlib
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
START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def minute_bars(count: int) -> list[Bar]:
    return [
        Bar(
            "binance",
            "BTCUSDT",
            "1m",
            START + timedelta(minutes=i),
            Decimal(100 + i % 50),
            Decimal(101 + i % 50),
            Decimal(99 + i % 50),
            Decimal(100 + i % 50) + Decimal("0.25"),
            Decimal("0.1"),
            trade_count=3,
        )
        for i in range(count)
    ]


def logged_on(server: RunningServer) -> c.DtcClient:
    conn = server.client()
    conn.send(c.logon_request(heartbeat=0))
    assert conn.expect(2)["Result"] == 1
    return conn


def test_daily_and_five_second_charts_are_built_from_what_is_stored(
    sqlite_dtc_factory: Factory, sqlite_url: str
) -> None:
    writer = create_engine(sqlite_url)
    write_bars(writer, minute_bars(2 * 1440 + 30))  # two whole days and half an hour of the third
    tick_time = datetime(2024, 2, 1, tzinfo=UTC)
    write_ticks(
        writer,
        [
            Tick(
                "binance",
                "ETHUSDT",
                tick_time + timedelta(seconds=s),
                "trade",
                str(s),
                Decimal(s),
                Decimal(1),
            )
            for s in range(12)
        ],
    )
    writer.dispose()
    conn = logged_on(sqlite_dtc_factory())
    conn.send(c.historical_request(1, "BTCUSDT", "binance", 86400))
    assert conn.expect(801)["NoRecordsToReturn"] == 0
    days = [conn.expect(803) for _ in range(3)]
    assert [d["StartDateTime"] for d in days] == [
        int((START + timedelta(days=n)).timestamp()) for n in range(3)
    ]
    assert (days[0]["OpenPrice"], days[0]["HighPrice"], days[0]["LowPrice"]) == (100, 150, 99)
    assert days[0]["LastPrice"] == 100 + 1439 % 50 + 0.25
    assert days[0]["Volume"] == pytest.approx(144.0, abs=0)  # 1440 x 0.1, summed exactly
    assert (days[0]["NumTrades"], days[2]["NumTrades"]) == (1440 * 3, 30 * 3)
    assert [d["IsFinalRecord"] for d in days] == [0, 0, 1]

    conn.send(c.historical_request(2, "ETHUSDT", "binance", 5))  # no bars at all: from trades
    assert conn.expect(801)["RecordInterval"] == 5
    bars = [conn.expect(803) for _ in range(3)]
    assert [(b["OpenPrice"], b["LastPrice"], b["NumTrades"], b["Volume"]) for b in bars] == [
        (0, 4, 5, 5),
        (5, 9, 5, 5),
        (10, 11, 2, 2),
    ]


@pytest.mark.postgres
def test_zlib_answer_decodes_with_an_independent_decompressor(dtc_factory: Factory, pg_url: str) -> None:
    writer = create_engine(pg_url)
    write_bars(writer, minute_bars(20_000))
    writer.dispose()
    server = dtc_factory(history_page=1000)
    plain = logged_on(server)
    plain.send(c.historical_request(7, "BTCUSDT", "binance", 60))
    assert plain.expect(801)["UseZLibCompression"] == 0
    expected = [plain.expect(803, timeout=10) for _ in range(20_000)]

    packed = logged_on(server)
    packed.send(c.historical_request(7, "BTCUSDT", "binance", 60, zlib=True))
    header = packed.expect(801)
    assert (header["UseZLibCompression"], header["NoRecordsToReturn"]) == (1, 0)
    compressed = packed.read_to_end(timeout=20)  # the connection ends with the stream
    inflater = zlib.decompressobj()
    records = c.parse_all(inflater.decompress(compressed))
    assert inflater.eof
    assert not inflater.unused_data
    assert records == expected
    assert records[-1]["IsFinalRecord"] == 1
    ratio = len(compressed) / (88 * len(records))
    logging.getLogger(__name__).info("zlib: %d records, ratio %.3f", len(records), ratio)
    assert ratio < 0.5


def test_zlib_is_not_used_in_json(sqlite_dtc_factory: Factory, sqlite_url: str) -> None:
    writer = create_engine(sqlite_url)
    write_bars(writer, minute_bars(3))
    writer.dispose()
    conn = sqlite_dtc_factory().client()
    conn.send(c.encoding_request(2))
    assert conn.recv()["Encoding"] == 2
    conn.json = True
    conn.send(b'{"Type":1,"HeartbeatIntervalInSeconds":0}\0')
    assert conn.expect(2)["Result"] == 1
    conn.send(b'{"Type":800,"RequestID":3,"Symbol":"BTCUSDT","Exchange":"binance","RecordInterval":60,')
    conn.send(b'"UseZLibCompression":1}\0')
    assert conn.expect(801)["UseZLibCompression"] == 0
    assert [conn.expect(803)["IsFinalRecord"] for _ in range(3)] == [0, 0, 1]


@pytest.mark.postgres
def test_a_record_we_cannot_encode_is_our_failure_not_the_clients(
    dtc_factory: Factory, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A NaN close (PostgreSQL numeric allows it) has no JSON form: logged, rejected, session goes on."""
    writer = create_engine(pg_url)
    write_bars(writer, minute_bars(2))
    with writer.begin() as db:
        db.exec_driver_sql("UPDATE market_data_ohlcv SET close = 'NaN' WHERE timestamp = %s", (START,))
    writer.dispose()
    server = dtc_factory()
    conn = server.client()
    conn.json = True
    conn.send(b'{"Type":1,"HeartbeatIntervalInSeconds":0}\0')
    assert conn.expect(2)["Result"] == 1
    with caplog.at_level(logging.ERROR):
        conn.send(b'{"Type":800,"RequestID":9,"Symbol":"BTCUSDT","Exchange":"binance","RecordInterval":60}\0')
        assert conn.expect(801)["RequestID"] == 9
        reject = conn.expect(802)
    assert (reject["RequestID"], reject["RejectText"]) == (9, "internal server error")
    assert any("non-finite" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    conn.send(b'{"Type":506,"RequestID":10,"Symbol":"BTCUSDT","Exchange":"binance"}\0')
    assert conn.expect(507)["RequestID"] == 10  # no LOGOFF, no DoNotReconnect: the session goes on
