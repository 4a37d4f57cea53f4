"""End to end: `mdtool backfill binance SYMBOL trades|INTERVAL` against the fake archive and exchange."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.fakes.binance_archive import ArchiveBackedBinance, FakeArchive, make_trades, ms

NOW = datetime.now(UTC)
TODAY = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC)
SINCE = TODAY - timedelta(days=3)
TICKS = "SELECT count(*) FROM market_data_ticks WHERE symbol = 'BTCUSDT' AND source = 'trade'"
BARS = "SELECT count(*) FROM market_data_ohlcv WHERE symbol = 'BTCUSDT' AND interval = '1m'"


class Venue:
    def __init__(self, exchange: ArchiveBackedBinance, archive: FakeArchive, tmp: Path) -> None:
        self.exchange, self.archive, self.tmp = exchange, archive, tmp

    def env(self, db_url: str) -> dict[str, str]:
        return {
            **os.environ,
            "MARKET_DATA_DATABASE_URL": db_url,
            "BINANCE_BASE_URL": self.exchange.base_url,
            "BINANCE_STREAM_URL": self.exchange.stream_url,
            "BINANCE_ARCHIVE_URL": self.archive.base_url,
            "TMPDIR": str(self.tmp),
        }

    def mdtool(self, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "mdtool", "backfill", "binance", "BTCUSDT", *args]
        return subprocess.run(command, env=self.env(db_url), capture_output=True, text=True, timeout=120)


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[Venue]:
    trades = make_trades(1, SINCE - timedelta(hours=1), NOW - timedelta(minutes=1), 900_000)
    with (
        ArchiveBackedBinance(symbols={"BTCUSDT": TODAY - timedelta(days=30)}) as exchange,
        FakeArchive() as archive,
    ):
        exchange.trades["BTCUSDT"] = trades  # type: ignore[assignment]
        for n in range(3):
            day = SINCE + timedelta(days=n)
            span = [t for t in trades if ms(day) <= t.time < ms(day + timedelta(days=1))]
            archive.publish_trades("BTCUSDT", span, day.date(), header=n == 0)
        temp = tmp_path / "tmp"
        temp.mkdir()
        yield Venue(exchange, archive, temp)


def scalar(db_url: str, sql: str) -> int:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def test_trades_backfill_and_rerun(venue: Venue, db_url: str) -> None:
    done = venue.mdtool(db_url, "trades", "--since", SINCE.isoformat())
    assert done.returncode == 0, done.stderr
    expected = sum(1 for t in venue.exchange.trades["BTCUSDT"] if t.time >= ms(SINCE))
    assert scalar(db_url, TICKS) == expected
    (line,) = done.stdout.strip().splitlines()
    assert f"{expected} trades stored" in line and "from 3 files" in line and "REST:" in line
    zips = venue.archive.count(".zip")
    again = venue.mdtool(db_url, "trades")  # cron mode: after the highest stored id
    assert again.returncode == 0, again.stderr
    assert "0 trades stored" in again.stdout
    assert venue.archive.count(".zip") == zips
    assert not list(venue.tmp.iterdir()), "temporary files are cleaned up"


def test_a_corrupt_file_is_one_error_line_naming_it(venue: Venue, sqlite_url: str) -> None:
    name = f"BTCUSDT-trades-{SINCE + timedelta(days=1):%Y-%m-%d}.zip"
    venue.archive.corrupt(f"data/spot/daily/trades/BTCUSDT/{name}")
    failed = venue.mdtool(sqlite_url, "trades", "--since", SINCE.isoformat())
    assert failed.returncode == 1
    assert f"error: archive file {name} failed its SHA-256 check twice" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert not list(venue.tmp.iterdir())


def test_bars_from_the_archive_say_where_they_came_from(venue: Venue, sqlite_url: str) -> None:
    day = TODAY - timedelta(days=1)
    opens = [ms(day) + i * 60_000 for i in range(1440)]
    venue.archive.publish_klines("BTCUSDT", "1m", opens, 60_000, day.date())
    done = venue.mdtool(sqlite_url, "1m", "--since", day.isoformat(), "--until", TODAY.isoformat())
    assert done.returncode == 0, done.stderr
    assert scalar(sqlite_url, BARS) == 1440
    assert "archive: 1440 bars from 1 files" in done.stdout and "REST: 0 bars" in done.stdout
    rest = venue.mdtool(sqlite_url, "1m", "--since", (day - timedelta(days=1)).isoformat(), "--via", "rest")
    assert rest.returncode == 0, rest.stderr
    assert "archive:" not in rest.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("trades", "--via", "ftp"), "error: Invalid value for '--via'"),
        (("trades", "--since", "2024-01-01", "--until", "2024-02-01"), "error: --until is not supported"),
        (("trades",), "error: no binance BTCUSDT trades stored yet: pass --since"),
    ],
)
def test_usage_errors_exit_2(venue: Venue, sqlite_url: str, args: tuple[str, ...], message: str) -> None:
    failed = venue.mdtool(sqlite_url, *args)
    assert failed.returncode == 2, failed.stderr
    assert message in failed.stderr


def test_ibkr_has_no_trades_history(venue: Venue, sqlite_url: str) -> None:
    command = [sys.executable, "-m", "mdtool", "backfill", "ibkr", "AAPL", "trades"]
    failed = subprocess.run(command, env=venue.env(sqlite_url), capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2 and "binance only" in failed.stderr


def test_ctrl_c_during_a_download_leaves_no_temporary_file(venue: Venue, sqlite_url: str) -> None:
    big = os.urandom(4 << 20)  # never unpacked: the run is interrupted while it downloads
    day = TODAY - timedelta(days=1)
    venue.archive.publish(f"data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-{day:%Y-%m-%d}.zip", big)
    venue.archive.throttle = 0.05
    command = [
        sys.executable,
        "-m",
        "mdtool",
        "backfill",
        "binance",
        "BTCUSDT",
        "1m",
        "--since",
        day.isoformat(),
    ]
    proc = subprocess.Popen(
        command, env=venue.env(sqlite_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not any(p.is_file() and p.stat().st_size > 0 for p in venue.tmp.rglob("*")):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err  # Typer turns Ctrl-C into exit 130
    assert not list(venue.tmp.iterdir())
