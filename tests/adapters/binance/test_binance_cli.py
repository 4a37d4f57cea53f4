"""End to end: the `mdtool` command against the fake exchange, as cron and a user would run it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.fakes.binance import FakeBinance
from tests.waiting import wait_for

SPAN = ["--since", "2026-01-01", "--until", "2026-02-01"]  # 744 hourly bars


def mdtool(
    fake: FakeBinance, db_url: str, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mdtool", *args],
        env=environment(fake, db_url),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def environment(fake: FakeBinance, db_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "MARKET_DATA_DATABASE_URL": db_url,
        "BINANCE_BASE_URL": fake.base_url,
        "BINANCE_STREAM_URL": fake.stream_url,
        "BINANCE_ARCHIVE_URL": fake.base_url,  # serves no archive files (404): bars come from REST
    }


def scalar(db_url: str, sql: str) -> int:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def execute(db_url: str, sql: str) -> None:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


BARS = "SELECT count(*) FROM market_data_ohlcv WHERE exchange = 'binance' AND symbol = 'BTCUSDT'"


def test_backfill_resume_and_gap_repair(fake: FakeBinance, sqlite_url: str) -> None:
    first = mdtool(fake, sqlite_url, "backfill", "binance", "BTCUSDT", "1h", *SPAN)
    assert first.returncode == 0, first.stderr
    assert scalar(sqlite_url, BARS) == 744
    summary = first.stdout.strip().splitlines()
    assert len(summary) == 1, "the summary is one line even off a terminal (cron logs)"
    assert "744 bars stored" in summary[0]
    klines = fake.request_count("/api/v3/klines")

    again = mdtool(fake, sqlite_url, "backfill", "binance", "BTCUSDT", "1h", *SPAN)
    assert again.returncode == 0, again.stderr
    assert fake.request_count("/api/v3/klines") == klines, "a complete range needs no klines requests"

    execute(
        sqlite_url,
        "DELETE FROM market_data_ohlcv WHERE timestamp >= '2026-01-10' AND timestamp < '2026-01-11'",
    )
    assert scalar(sqlite_url, BARS) == 720
    repair = mdtool(fake, sqlite_url, "backfill", "binance", "BTCUSDT", "1h", *SPAN)
    assert repair.returncode == 0, repair.stderr
    assert scalar(sqlite_url, BARS) == 744
    assert fake.request_count("/api/v3/klines") == klines + 1
    assert fake.violations == 0

    feb_1 = 1769904000000  # 2026-02-01T00:00Z, the bar after the newest stored one
    seen = len(fake.requests)
    hours_before = int(time.time() // 3600)
    cron = mdtool(fake, sqlite_url, "backfill", "binance", "BTCUSDT", "1h")  # no --since: resume
    hours_after = int(time.time() // 3600)
    assert cron.returncode == 0, cron.stderr
    resumed = [params for _, path, params, _ in fake.requests[seen:] if path == "/api/v3/klines"]
    assert int(resumed[0]["startTime"]) == feb_1
    closed_since_feb = {hours - feb_1 // 3_600_000 for hours in (hours_before, hours_after)}
    assert scalar(sqlite_url, BARS) - 744 in closed_since_feb


def test_usage_errors_exit_2(fake: FakeBinance, sqlite_url: str) -> None:
    unknown = mdtool(fake, sqlite_url, "backfill", "binance", "NOPEUSDT", "1h", *SPAN)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1].startswith("error:")
    assert "NOPEUSDT" in unknown.stderr
    assert mdtool(fake, sqlite_url, "backfill", "binance", "BTCUSDT", "2m", *SPAN).returncode == 2
    cron = mdtool(fake, sqlite_url, "backfill", "binance", "BTCUSDT", "1d")
    assert cron.returncode == 2
    assert "--since" in cron.stderr


def test_ban_exits_1(fake: FakeBinance, sqlite_url: str) -> None:
    fake.inject(418, retry_after=300)
    banned = mdtool(fake, sqlite_url, "backfill", "binance", "BTCUSDT", "1h", *SPAN)
    assert banned.returncode == 1
    assert "banned" in banned.stderr


@pytest.mark.postgres
def test_overlapping_runs_on_timescaledb(fake: FakeBinance, pg_url: str) -> None:
    span = ["--since", "2025-01-01", "--until", "2025-03-01"]  # 84,960 one-minute bars
    env = environment(fake, pg_url)
    command = [sys.executable, "-m", "mdtool", "backfill", "binance", "BTCUSDT", "1m", *span]
    runs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(run.wait(timeout=120), run.communicate(timeout=10)[1]) for run in runs]
    assert any(code == 0 for code, _ in results), results
    for code, err in results:
        assert code in (0, 1), err  # the loser either waited and found nothing to do, or refused clearly
    assert scalar(pg_url, BARS) == 84_960
    finished = mdtool(fake, pg_url, "backfill", "binance", "BTCUSDT", "1m", *span)
    assert finished.returncode == 0, finished.stderr
    assert scalar(pg_url, BARS) == 84_960


TICKS = "SELECT count(*) FROM market_data_ticks WHERE exchange = 'binance' AND symbol = 'BTCUSDT'"


def start_stream(fake: FakeBinance, db_url: str, symbol: str = "BTCUSDT") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mdtool", "stream", "binance", symbol],
        env=environment(fake, db_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    return err


def stored_ids(db_url: str) -> list[int]:
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT trade_id FROM market_data_ticks WHERE symbol = 'BTCUSDT'"))
            return sorted(int(value) for (value,) in rows)
    finally:
        engine.dispose()


def test_stream_drop_restart_and_sigint_leave_no_holes(fake: FakeBinance, sqlite_url: str) -> None:
    fake.emit("BTCUSDT", 30)  # history before the first run; nothing stored yet, so it starts live
    proc = start_stream(fake, sqlite_url)
    try:
        wait_for(lambda: fake.subscribed("btcusdt@trade"), what="subscription")
        fake.emit("BTCUSDT", 50)
        wait_for(lambda: scalar(sqlite_url, TICKS) == 50, what="50 stored trades")
        fake.drop()
        fake.emit("BTCUSDT", 20)  # only REST can deliver these
        wait_for(lambda: fake.subscribed("btcusdt@trade"), what="resubscription")
        fake.emit("BTCUSDT", 10)
        wait_for(lambda: scalar(sqlite_url, TICKS) == 80, what="80 stored trades")
    finally:
        interrupt(proc)

    fake.emit("BTCUSDT", 15)  # while mdtool is not running
    proc = start_stream(fake, sqlite_url)
    try:
        wait_for(lambda: fake.subscribed("btcusdt@trade"), what="subscription after restart")
        fake.emit("BTCUSDT", 5)
        wait_for(lambda: scalar(sqlite_url, TICKS) == 100, what="100 stored trades")
    finally:
        interrupt(proc)
    assert stored_ids(sqlite_url) == list(range(31, 131))


def test_sigterm_flushes_the_stream_and_exits_0(fake: FakeBinance, sqlite_url: str) -> None:
    proc = start_stream(fake, sqlite_url, "btcusdt")  # lower case, as users type it
    try:
        wait_for(lambda: fake.subscribed("btcusdt@trade"), what="subscription")
        fake.emit("BTCUSDT", 40)
        wait_for(lambda: scalar(sqlite_url, TICKS) > 0, what="first commit")
        fake.emit("BTCUSDT", 40)  # some of these are accepted but not yet committed
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    ids = stored_ids(sqlite_url)
    assert len(ids) >= 40
    assert ids == list(range(1, len(ids) + 1))
    assert f"{len(ids)} ticks received, {len(ids)} stored" in out, "everything accepted was flushed"


def test_stream_outlives_an_unreachable_exchange_and_stops_on_sigterm(sqlite_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "MARKET_DATA_DATABASE_URL": sqlite_url,
        "BINANCE_BASE_URL": f"http://127.0.0.1:{port}",
        "BINANCE_STREAM_URL": f"ws://127.0.0.1:{port}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdtool", "stream", "binance", "btcusdt"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        # Polled, not slept: on a loaded machine the interpreter alone can take seconds to start.
        wait_for(lambda: any("retry" in line for line in lines), timeout=90, what="a retry line")
        wait_for(lambda: sum("retry" in line for line in lines) >= 2, timeout=30, what="a second retry")
        assert proc.poll() is None, "a stream must keep retrying while Binance is unreachable"
    finally:
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        proc.wait(timeout=30)
        reader.join(timeout=10)
    err = "".join(lines)
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 5, "SIGTERM must not wait out a retry backoff"
    assert "retry" in err


def test_lower_case_symbol_is_stored_in_binance_spelling(fake: FakeBinance, sqlite_url: str) -> None:
    done = mdtool(fake, sqlite_url, "backfill", "binance", "btcusdt", "1d", *SPAN)
    assert done.returncode == 0, done.stderr
    assert scalar(sqlite_url, BARS) == 31
    assert all(p.get("symbol") == "BTCUSDT" for _, _, p, _ in fake.requests)


@pytest.mark.parametrize(
    "command", [["backfill", "binance", "BTCUSDT", "1h", *SPAN], ["stream", "binance", "BTCUSDT"]]
)
def test_database_down_at_start_is_one_line_and_exit_1(fake: FakeBinance, command: list[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = mdtool(fake, f"postgresql://mdtool:x@127.0.0.1:{port}/mdtool", *command, timeout=30)
    assert down.returncode == 1
    lines = down.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), down.stderr


def test_stream_of_an_unknown_symbol_exits_2(fake: FakeBinance, sqlite_url: str) -> None:
    unknown = mdtool(fake, sqlite_url, "stream", "binance", "BTCUSDT", "nopeusdt", timeout=30)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1].startswith("error: unknown Binance symbol")


def test_workers_store_what_one_process_would(fake: FakeBinance, db_url: str) -> None:
    span = ["--since", "2025-01-01", "--until", "2025-01-31"]  # 43,200 one-minute bars: 3 shares
    fake.add_outage(datetime(2025, 1, 15, tzinfo=UTC), datetime(2025, 1, 15, 1, tzinfo=UTC))
    fake.inject(500)  # met by a worker: its retry warning must reach the command's log
    shared = mdtool(
        fake, db_url, "backfill", "binance", "BTCUSDT", "1m", *span, "--workers", "3", timeout=120
    )
    assert shared.returncode == 0, shared.stderr
    assert "43140 bars stored (43140 received)" in shared.stdout
    assert scalar(db_url, BARS) == 43_140
    assert fake.violations == 0
    assert "Binance klines failed (HTTP 500); retry 1/5" in shared.stderr

    again = mdtool(fake, db_url, "backfill", "binance", "BTCUSDT", "1m", *span, "--refetch", timeout=120)
    assert again.returncode == 0, again.stderr
    assert "0 bars stored (43140 received)" in again.stdout, "one process finds every value the same"

    klines = fake.request_count("/api/v3/klines")
    resumed = mdtool(fake, db_url, "backfill", "binance", "BTCUSDT", "1m", *span, "--workers", "3")
    assert resumed.returncode == 0, resumed.stderr
    assert fake.request_count("/api/v3/klines") == klines, "the outage was remembered as empty"


def test_a_failing_worker_is_one_line_and_exit_1(fake: FakeBinance, sqlite_url: str) -> None:
    fake.inject(418, retry_after=300)
    span = ["--since", "2025-01-01", "--until", "2025-01-31"]
    banned = mdtool(fake, sqlite_url, "backfill", "binance", "BTCUSDT", "1m", *span, "--workers", "2")
    assert banned.returncode == 1
    assert "Traceback" not in banned.stderr
    assert banned.stderr.strip().splitlines()[-1].startswith("error:")
    assert "banned" in banned.stderr


def test_workers_are_for_binance_bars_only(fake: FakeBinance, sqlite_url: str) -> None:
    trades = mdtool(fake, sqlite_url, "backfill", "binance", "BTCUSDT", "trades", "--workers", "2")
    assert trades.returncode == 2
    assert "--workers applies to binance bars only" in trades.stderr
    ibkr = mdtool(fake, sqlite_url, "backfill", "ibkr", "AAPL", "1h", *SPAN, "--workers", "2")
    assert ibkr.returncode == 2


def children_of(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(stat.parent.name))
        except (OSError, ValueError):
            continue  # ended meanwhile
    return found


def running(pid: int) -> bool:
    """Whether `pid` still runs (a zombie, ended but not yet reaped by whoever adopted it, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_workers_end_when_the_command_is_killed(fake: FakeBinance, sqlite_url: str) -> None:
    span = ["--since", "2025-01-01", "--until", "2026-01-01"]  # 525,600 bars: 10 s and more of work
    arguments = ["backfill", "binance", "BTCUSDT", "1m", *span, "--workers", "2"]
    command = [sys.executable, "-m", "mdtool", *arguments]
    parent = subprocess.Popen(
        command, env=environment(fake, sqlite_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: fake.request_count("/api/v3/klines") >= 8, timeout=60)
        workers = children_of(parent.pid)
        assert workers, "the workers are the command's children"
        parent.kill()  # SIGKILL: the command gets no chance to stop them
        parent.wait(timeout=10)
        # Well before their shares would be done: they noticed, they did not just finish.
        wait_for(lambda: not any(map(running, workers)), timeout=6, what="the workers to end")
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.communicate(timeout=10)
