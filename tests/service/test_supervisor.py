"""The supervisor in-process against the fake exchange and real TimescaleDB: jobs, metrics, diff reloads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mdtool.service.config import ServiceConfig, StreamJobConfig, load_config
from mdtool.service.listing import resolve_symbols
from mdtool.service.metrics import MetricsServer
from mdtool.service.supervise import Supervised
from mdtool.service.supervisor import Supervisor
from mdtool.storage.engine import create_engine
from tests.fakes.binance import FakeBinance
from tests.service.helpers import (
    listed_hours_ago,
    metric_value,
    scalar,
    scrape,
    settings_for,
    ticks_of,
)
from tests.waiting import wait_for

CONFIG = """
[[stream]]
venue = "binance"
symbols = ["BTCUSDT"]

[[backfill]]
venue = "binance"
symbols = ["ETHUSDT"]
intervals = ["1m"]
since = "{since}"
every = "1h"
jitter = 0
"""


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance(symbols=listed_hours_ago(2, "BTCUSDT", "ETHUSDT", "BNBUSDT")) as exchange:
        yield exchange


@pytest.fixture
def supervisor(fake: FakeBinance, pg_url: str, tmp_path: Path) -> Iterator[Supervisor]:
    settings = settings_for(fake, pg_url, tmp_path)
    engine = create_engine(pg_url)

    def resolver(job: StreamJobConfig) -> list[str]:
        return resolve_symbols(settings, job.venue, job.selection)

    running = Supervisor(settings, engine, resolver)
    yield running
    running.stop()
    engine.dispose()


def config_file(tmp_path: Path, fake: FakeBinance, extra: str = "") -> ServiceConfig:
    since = datetime.fromtimestamp(min(fake.symbols.values()) / 1000, UTC)
    path = tmp_path / "mdtool.toml"
    path.write_text(CONFIG.format(since=since.isoformat()) + extra)
    return load_config(path)


def test_stream_and_backfill_jobs_store_and_report_metrics(
    fake: FakeBinance, pg_url: str, supervisor: Supervisor, tmp_path: Path
) -> None:
    supervisor.apply(config_file(tmp_path, fake))
    metrics = MetricsServer(supervisor)
    port = metrics.start("127.0.0.1", 0)
    try:
        wait_for(lambda: fake.subscribed("btcusdt@trade"), what="the stream subscription")
        fake.emit("BTCUSDT", 40)
        wait_for(lambda: ticks_of(pg_url, "BTCUSDT") == 40, what="40 stored trades")
        bars = "SELECT count(*) FROM market_data_ohlcv WHERE symbol = 'ETHUSDT'"
        wait_for(lambda: supervisor.jobs.backfills[0].cycles == 1, what="the first backfill cycle")
        stored_bars = scalar(pg_url, bars)
        assert 120 <= stored_bars <= 180, "two to three hours of closed 1m bars"

        def received() -> float | None:
            return metric_value(
                scrape(port), "mdtool_trades_received_total", mdtool_job="binance", venue="binance"
            )

        wait_for(lambda: received() == 40, what="the received counter")
        body = scrape(port)
        assert metric_value(body, "mdtool_trades_stored_total", mdtool_job="binance") == 40
        assert metric_value(body, "mdtool_commit_lag_seconds_count", mdtool_job="binance") == 40
        assert metric_value(body, "mdtool_stream_symbols", mdtool_job="binance") == 1
        assert metric_value(body, "mdtool_writer_queue_depth", mdtool_job="binance") == 0
        assert metric_value(body, "mdtool_bars_stored_total", symbol="ETHUSDT", interval="1m") == stored_bars
        assert metric_value(body, "mdtool_backfill_runs_total", symbol="ETHUSDT", outcome="ok") == 1
        assert metric_value(body, "mdtool_backfill_last_success_timestamp_seconds", symbol="ETHUSDT")
        assert metric_value(body, "mdtool_backfill_requests_total") is not None
        assert metric_value(body, "mdtool_job_restarts_total", mdtool_job="binance") == 0
    finally:
        metrics.stop()
    assert fake.violations == 0


def test_a_reload_applies_only_the_difference(
    fake: FakeBinance, pg_url: str, supervisor: Supervisor, tmp_path: Path
) -> None:
    config = config_file(tmp_path, fake)
    supervisor.apply(config)
    stream = supervisor.jobs.streams[0]
    backfill = supervisor.jobs.backfills[0]
    wait_for(lambda: fake.subscribed("btcusdt@trade"), what="the stream subscription")
    (btc_unit,) = stream.units()

    wider = replace(
        config.streams[0], selection=replace(config.streams[0].selection, symbols=("BTCUSDT", "BNBUSDT"))
    )
    supervisor.apply(replace(config, streams=(wider,)))
    assert supervisor.jobs.streams[0] is stream, "same job, adapted in place"
    assert supervisor.jobs.backfills[0] is backfill, "an unchanged backfill job is left alone"
    wait_for(lambda: len(stream.units()) == 2 and fake.subscribed("bnbusdt@trade"), what="the added symbol")
    assert btc_unit in stream.units() and btc_unit.supervised.alive, "the unchanged stream kept running"
    connects = fake.connects
    fake.emit("BTCUSDT", 5)
    fake.emit("BNBUSDT", 7)
    wait_for(
        lambda: ticks_of(pg_url, "BTCUSDT") == 5 and ticks_of(pg_url, "BNBUSDT") == 7, what="both symbols"
    )

    narrower = replace(wider, selection=replace(wider.selection, symbols=("BNBUSDT",)))
    supervisor.apply(replace(config, streams=(narrower,)))
    wait_for(lambda: stream.symbols == {"BNBUSDT"}, what="BTCUSDT dropped")
    wait_for(lambda: not btc_unit.supervised.alive, what="the BTCUSDT stream stopped")
    assert fake.connects == connects, "the BNBUSDT stream was not reconnected"

    supervisor.apply(replace(config, streams=(), backfills=()))
    assert supervisor.jobs.streams == () and supervisor.jobs.backfills == ()
    assert not any(unit.supervised.alive for unit in stream.units())


def test_a_failing_job_is_restarted_and_never_stops_the_others(
    fake: FakeBinance, pg_url: str, supervisor: Supervisor, tmp_path: Path
) -> None:
    config = config_file(tmp_path, fake)
    broken = replace(
        config.streams[0],
        name="broken",
        selection=replace(config.streams[0].selection, symbols=("NOPEUSDT",)),
    )
    supervisor.apply(replace(config, streams=(config.streams[0], broken), backfills=()))
    good, bad = supervisor.jobs.streams
    wait_for(lambda: bad.restarts >= 1, what="the broken job's restart")
    wait_for(lambda: fake.subscribed("btcusdt@trade"), what="the good job")
    fake.emit("BTCUSDT", 3)
    wait_for(lambda: ticks_of(pg_url, "BTCUSDT") == 3, what="the good job storing")
    assert good.restarts == 0


def test_supervised_restarts_with_growing_backoff_until_stopped() -> None:
    calls: list[float] = []
    done = threading.Event()

    def body(stop: threading.Event) -> None:
        calls.append(0.0)
        if len(calls) < 3:
            raise RuntimeError("venue down")
        done.set()
        stop.wait()

    unit = Supervised("flaky", body, backoff=0.01, backoff_cap=0.05).start()
    assert done.wait(10)
    assert unit.restarts == 2
    assert unit.last_error == "venue down"
    unit.stop()
    assert unit.join(10)
    assert len(calls) == 3


def test_a_stream_job_records_the_holes_it_cannot_fill(pg_url: str, tmp_path: Path) -> None:
    """As `mdtool stream` does: what REST refuses to fill is kept in `market_data_stream_holes`."""
    listed = listed_hours_ago(2, "BTCUSDT", "ETHUSDT")
    with FakeBinance(symbols=listed, trades_need_key=True) as fake:  # historicalTrades refused
        settings = settings_for(fake, pg_url, tmp_path)
        engine = create_engine(pg_url)
        running = Supervisor(
            settings, engine, lambda job: resolve_symbols(settings, job.venue, job.selection)
        )
        path = tmp_path / "mdtool.toml"
        path.write_text('[[stream]]\nvenue = "binance"\nsymbols = ["BTCUSDT"]\n')
        try:
            running.apply(load_config(path))
            wait_for(lambda: fake.subscribed("btcusdt@trade"), what="the stream subscription")
            fake.emit("BTCUSDT", 3)
            wait_for(lambda: ticks_of(pg_url, "BTCUSDT") == 3, what="3 stored trades")
            fake.drop()
            fake.emit("BTCUSDT", 4)  # 4..7: only REST could deliver these, and it refuses
            wait_for(lambda: fake.subscribed("btcusdt@trade"), what="the resubscription")
            fake.emit("BTCUSDT", 1)  # 8, live
            holes = "SELECT count(*) FROM market_data_stream_holes WHERE filled_at IS NULL"
            wait_for(lambda: scalar(pg_url, holes) == 1, what="the recorded hole")
            assert scalar(pg_url, "SELECT first_trade_id FROM market_data_stream_holes") == 4
        finally:
            running.stop()
            engine.dispose()
