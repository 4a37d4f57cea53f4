"""End to end: `mdtool backfill ibkr` and `mdtool stream ibkr` against the fake gateway, IB's real pacing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from tests.adapters.ibkr.conftest import CONTRACTS
from tests.fakes.ib_gateway import FakeIBGateway
from tests.waiting import wait_for

BARS = (
    "SELECT count(*) FROM market_data_ohlcv WHERE exchange = 'ibkr' AND symbol = 'AAPL' AND interval = '1m'"
)
TICKS = "SELECT count(*) FROM market_data_ticks WHERE exchange = 'ibkr' AND symbol = 'AAPL'"


@pytest.fixture
def gateway() -> Iterator[FakeIBGateway]:
    with FakeIBGateway(CONTRACTS) as fake:  # real clock, IB's real pacing windows
        yield fake
        assert fake.violations == []


def environment(gateway: FakeIBGateway, db_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "MARKET_DATA_DATABASE_URL": db_url,
        "IBKR_HOST": "127.0.0.1",
        "IBKR_PORT": str(gateway.port),
        "IBKR_CLIENT_ID": "5",
    }


def mdtool(gateway: FakeIBGateway, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mdtool", *args],
        env=environment(gateway, db_url),
        capture_output=True,
        text=True,
        timeout=60,
    )


def query(db_url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def test_backfill_resume_and_gap_repair(gateway: FakeIBGateway, sqlite_url: str) -> None:
    until = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    since = until - timedelta(days=2)
    span = ["--since", since.isoformat(), "--until", until.isoformat()]
    first = mdtool(gateway, sqlite_url, "backfill", "ibkr", "AAPL", "1m", *span)
    assert first.returncode == 0, first.stderr
    assert query(sqlite_url, BARS) == [(2 * 24 * 60,)]
    assert len(gateway.historical_requests) == 2

    again = mdtool(gateway, sqlite_url, "backfill", "ibkr", "AAPL", "1m", *span)
    assert again.returncode == 0, again.stderr
    assert len(gateway.historical_requests) == 2, "a complete range needs no historical requests"

    engine = create_engine(sqlite_url)
    with engine.begin() as conn:  # punch a 10-bar hole in the middle
        conn.execute(
            text(
                "DELETE FROM market_data_ohlcv WHERE rowid IN (SELECT rowid FROM market_data_ohlcv LIMIT 10 OFFSET 1000)"
            )
        )
    engine.dispose()
    repair = mdtool(gateway, sqlite_url, "backfill", "ibkr", "AAPL", "1m", *span)
    assert repair.returncode == 0, repair.stderr
    assert query(sqlite_url, BARS) == [(2 * 24 * 60,)]
    assert len(gateway.historical_requests) == 3


def test_unknown_contract_exits_2_with_ibs_message(gateway: FakeIBGateway, sqlite_url: str) -> None:
    result = mdtool(gateway, sqlite_url, "backfill", "ibkr", "NOPE", "1h", "--since", "2026-01-01")
    assert result.returncode == 2, result.stderr
    assert "No security definition has been found" in result.stderr.strip().splitlines()[-1]


def test_gateway_down_exits_1_with_a_clear_line(sqlite_url: str) -> None:
    with FakeIBGateway(CONTRACTS) as fake:
        fake.stop_listening()
        result = mdtool(fake, sqlite_url, "backfill", "ibkr", "AAPL", "1h", "--since", "2026-01-01")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot connect to IB Gateway/TWS"), result.stderr


def test_stream_survives_a_gateway_restart_and_sigint_flushes(
    gateway: FakeIBGateway, sqlite_url: str
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdtool", "stream", "ibkr", "AAPL"],
        env=environment(gateway, sqlite_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    epoch = int(time.time())
    try:
        gateway.wait_for_subscriptions(1, timeout=20)
        for i in range(30):
            gateway.push_trade("AAPL", epoch + i // 10, f"189.{i:02d}", "100")
        wait_for(lambda: query(sqlite_url, TICKS) == [(30,)], what="30 stored trades")
        gateway.stop_listening()
        gateway.start_listening()
        gateway.wait_for_subscriptions(1, timeout=20)
        for _ in range(5):
            gateway.push_trade("AAPL", epoch + 10, "190.00", "1")  # identical trades in one second
        wait_for(lambda: query(sqlite_url, TICKS) == [(35,)], what="35 stored trades")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    rows = query(sqlite_url, "SELECT timestamp, source, trade_id FROM market_data_ticks ORDER BY timestamp")
    assert len(rows) == 35 and {r[1] for r in rows} == {"ibkr.AllLast"}
    assert len({r[2] for r in rows}) == 35
    first = datetime.fromisoformat(str(rows[0][0]))
    assert first.replace(tzinfo=first.tzinfo or UTC) == datetime.fromtimestamp(epoch, UTC)  # the wire time
    assert gateway.connections_total == 2


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stream_stops_with_exit_0_while_the_gateway_is_silent(
    gateway: FakeIBGateway, sqlite_url: str, signum: int
) -> None:
    """A contract lookup the gateway never answers must not hold up the signal's clean exit."""
    gateway.ignore = {9}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdtool", "stream", "ibkr", "AAPL"],
        env=environment(gateway, sqlite_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        gateway.wait_until(lambda: any(fields[0] == "9" for _, fields in gateway.received), timeout=20)
        started = time.monotonic()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 5


def test_stream_beyond_ibs_tick_by_tick_limit_exits_2_naming_it(
    gateway: FakeIBGateway, sqlite_url: str
) -> None:
    gateway.tick_by_tick_limit = 1
    result = mdtool(gateway, sqlite_url, "stream", "ibkr", "AAPL", "MSFT")
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: IB refused a tick-by-tick subscription for MSFT") and "10190" in last


def test_stream_with_unknown_symbols_exits_2_before_subscribing(
    gateway: FakeIBGateway, sqlite_url: str
) -> None:
    result = mdtool(gateway, sqlite_url, "stream", "ibkr", "AAPL", "NOPE")
    assert result.returncode == 2, result.stderr
    assert "IB does not know NOPE" in result.stderr.strip().splitlines()[-1]
    assert not any(fields[0] == "97" for _, fields in gateway.received)
