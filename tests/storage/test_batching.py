"""The shared batching writer: flush by size/time, futures, and an outage that loses nothing."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from mdtool.migrate import upgrade
from mdtool.records import Tick
from mdtool.storage.batching import BatchingWriter
from mdtool.storage.engine import create_engine
from mdtool.storage.schema import ticks
from tests.pg_cluster import PostgresCluster

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def tick(i: int) -> Tick:
    return Tick("binance", "BTCUSDT", T0 + timedelta(milliseconds=i), "trade", str(i), "100.5", "1")


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ticks)).scalar_one())


def test_flushes_by_time_and_completes_futures(engine: Engine) -> None:
    with BatchingWriter(engine, max_batch=1000, flush_interval=0.05) as writer:
        future = writer.submit(tick(1))
        future.result(timeout=10)
        assert stored(engine) == 1
        for i in range(2, 2500):
            writer.put([tick(i)])
        assert writer.flush(timeout=10)
    assert stored(engine) == 2499
    assert writer.stats.flushes >= 3


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    yield cluster
    cluster.destroy()


def test_database_outage_keeps_everything_and_recovers(own_cluster: PostgresCluster) -> None:
    url = own_cluster.create_database("outage")
    upgrade(url)
    engine = create_engine(url)
    writer = BatchingWriter(engine, max_batch=100, flush_interval=0.02, memory_limit=150,
                            retry_initial=0.05, retry_max=0.2).start()  # fmt: skip
    writer.submit_many(tick(i) for i in range(50)).result(timeout=10)
    own_cluster.stop()
    for i in range(50, 500):
        writer.put([tick(i)])
    deadline = time.monotonic() + 10
    while writer.healthy and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not writer.healthy
    late = writer.submit(tick(500))
    deadline = time.monotonic() + 10
    while writer.stats.spooled == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.stats.spooled > 0, "records beyond the memory limit go to disk"
    own_cluster.start()
    late.result(timeout=30)
    assert writer.close(timeout=30)
    assert writer.healthy
    assert stored(engine) == 501
    engine.dispose()


def test_a_record_the_database_refuses_is_set_aside_and_the_rest_is_stored(pg_url: str) -> None:
    engine = create_engine(pg_url)
    poison = Tick("binance", "BTCUSDT", T0, "trade", "poi\x00son", "1", "1")  # PostgreSQL text has no NUL
    with BatchingWriter(engine, max_batch=1000, flush_interval=0.02) as writer:
        done = writer.submit_many([*(tick(i) for i in range(40)), poison, *(tick(i) for i in range(40, 80))])
        done.result(timeout=30)
        writer.submit(tick(80)).result(timeout=30)
    assert writer.stats.rejected == 1
    assert stored(engine) == 81
    engine.dispose()
