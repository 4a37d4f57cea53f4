"""`mdtool stream binance` for a market: selections, shards as separate processes, recorded holes."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from tests.adapters.binance.test_binance_cli import environment, interrupt, mdtool, scalar
from tests.fakes.binance import FakeBinance
from tests.waiting import wait_for

LISTED = datetime(2017, 8, 17, tzinfo=UTC)


@pytest.fixture
def pg_url_2(pg_url: str, request: pytest.FixtureRequest) -> str:
    """A second fresh migrated database on the same cluster."""
    url: str = request.getfixturevalue("pg_cluster").create_database(
        pg_url.rsplit("/", 1)[1] + "_b", template="mdtool_migrated_template"
    )
    return url


def start(fake: FakeBinance, db_url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mdtool", "stream", "binance", *args],
        env=environment(fake, db_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGINT, then the exit code and stderr; killed if it does not exit within 30 s."""
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


def stored(db_url: str) -> set[tuple[str, int]]:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT symbol, trade_id FROM market_data_ticks"))
            return {(symbol, int(trade_id)) for symbol, trade_id in rows}
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NOPE*"], "matches no symbol"),
        (["--all", "--shard", "3/2"], "--shard"),
        (["--all", "--shard", "x"], "--shard"),
        ([], "name at least one symbol"),
        (["--all", "--streams-per-connection", "2000"], "1024"),
    ],
)
def test_bad_selections_exit_2_with_one_line(
    fake: FakeBinance, sqlite_url: str, args: list[str], message: str
) -> None:
    done = mdtool(fake, sqlite_url, "stream", "binance", *args, timeout=30)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert message in lines[0]


@pytest.mark.postgres
def test_two_shards_store_exactly_what_one_process_stores(pg_cluster: object, pg_url: str) -> None:
    sharded_url = pg_url.rsplit("/", 1)[0] + "/" + pg_url.rsplit("/", 1)[1] + "_sharded"
    cluster = pg_cluster
    sharded_url = cluster.create_database(
        pg_url.rsplit("/", 1)[1] + "_s", template="mdtool_migrated_template"
    )  # type: ignore[attr-defined]
    symbols = {f"S{i:03d}USDT": LISTED for i in range(24)}
    with FakeBinance(symbols=symbols) as fake:
        procs = [
            start(fake, pg_url, "--all", "--streams-per-connection", "5"),
            start(fake, sharded_url, "--all", "--shard", "1/2", "--streams-per-connection", "5"),
            start(fake, sharded_url, "--quote", "USDT", "--shard", "2/2", "--streams-per-connection", "5"),
        ]
        try:
            every = [f"{s.lower()}@trade" for s in symbols]
            wait_for(
                lambda: all(fake.subscribed(s) for s in every), what="every symbol subscribed", timeout=120
            )
            wait_for(
                lambda: sum(fake.connection_streams()) == 48,
                what="each symbol on two connections",
                timeout=60,
            )
            for round_ in range(3):
                for symbol in symbols:
                    fake.emit(symbol, 1 + round_)
            total = 24 * 6
            query = "SELECT count(*) FROM market_data_ticks"
            wait_for(lambda: scalar(pg_url, query) == total, what="the single process's trades")
            wait_for(lambda: scalar(sharded_url, query) == total, what="the shards' trades")
        finally:
            ended = [stop(proc) for proc in procs]  # every process is stopped, whatever failed above
    for code, err in ended:
        assert code == 0, err
    single, sharded = stored(pg_url), stored(sharded_url)
    assert single == sharded
    assert len(single) == 24 * 6


def test_unfillable_hole_is_recorded_and_filled_by_a_later_run(sqlite_url: str) -> None:
    with FakeBinance(trades_need_key=True) as fake:  # historicalTrades refused: holes cannot be filled
        proc = start(fake, sqlite_url, "BTCUSDT")
        try:
            wait_for(lambda: fake.subscribed("btcusdt@trade"), what="subscription", timeout=120)
            fake.emit("BTCUSDT", 3)
            wait_for(lambda: scalar(sqlite_url, "SELECT count(*) FROM market_data_ticks") == 3)
            fake.drop()
            fake.emit("BTCUSDT", 4)  # 4..7: only REST could deliver these, and it refuses
            wait_for(lambda: fake.subscribed("btcusdt@trade"), what="resubscription")
            fake.emit("BTCUSDT", 1)  # 8, live
            holes = "SELECT count(*) FROM market_data_stream_holes WHERE filled_at IS NULL"
            wait_for(lambda: scalar(sqlite_url, holes) == 1, what="the recorded hole")
        finally:
            err = interrupt(proc)
        assert "trades 4..7 cannot be filled" in err
        engine = create_engine(sqlite_url)
        with engine.begin() as conn:
            row = conn.execute(
                text("SELECT symbol, first_trade_id, last_trade_id, reason FROM market_data_stream_holes")
            ).one()
        engine.dispose()
        assert tuple(row[:3]) == ("BTCUSDT", 4, 7)
        assert "API" in row[3] or "refused" in row[3]

        fake.trades_need_key = False  # Binance serves old trades again: the next run retries the hole
        proc = start(fake, sqlite_url, "BTCUSDT")
        try:
            wait_for(lambda: scalar(sqlite_url, holes) == 0, what="the hole marked filled", timeout=120)
        finally:
            code, err = stop(proc)
        assert code == 0, err
    assert stored(sqlite_url) == {("BTCUSDT", i) for i in range(1, 9)}
