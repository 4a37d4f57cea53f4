"""The live feed: late-committing transactions, de-duplication, one poll shared by all subscribers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from mdtool.dtc.feed import ticks_ingested_since
from mdtool.dtc.live import TickHub, Trade
from mdtool.dtc.messages import AT_ASK, AT_BID
from mdtool.records import Bar, Tick
from mdtool.storage.engine import create_engine
from mdtool.storage.history_stream import BarSource, open_bars
from mdtool.storage.schema import ticks
from mdtool.storage.writer import write_bars, write_ticks

SERIES = ("binance", "BTCUSDT")
NOW = datetime.now(UTC).replace(microsecond=0)


def tick(n: int, side: str | None = "buy") -> Tick:
    return Tick(*SERIES, NOW + timedelta(seconds=n), "trade", str(n), Decimal(n), Decimal("0.25"), side)


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_late_commit_inside_the_overlap_is_pushed_once(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    write_ticks(engine, [tick(1)])

    async def scenario() -> list[Trade]:
        hub = TickHub(engine, poll_interval=0.02)
        received: list[Trade] = []
        await hub.subscribe(SERIES, received.extend)
        await asyncio.to_thread(write_ticks, engine, [tick(2, "sell")])
        await until(lambda: len(received) == 1)
        # A transaction that started 2 s ago commits now: its ingested_at is older than what was seen.
        late = {**_row(tick(3)), "ingested_at": datetime.now(UTC) - timedelta(seconds=2)}
        await asyncio.to_thread(_insert, engine, late)
        await until(lambda: len(received) == 2)
        await asyncio.sleep(0.1)  # several more polls re-read the overlap: nothing is pushed twice
        await hub.close()
        return received

    received = asyncio.run(scenario())
    assert received == [
        (AT_BID, 2.0, 0.25, (NOW + timedelta(seconds=2)).timestamp()),
        (AT_ASK, 3.0, 0.25, (NOW + timedelta(seconds=3)).timestamp()),
    ]
    engine.dispose()


@pytest.mark.postgres
def test_transaction_committing_late_on_postgresql_is_pushed(pg_url: str) -> None:
    """No fixed overlap here: only the write horizon (oldest open transaction) can catch the late row."""
    engine = create_engine(pg_url)
    write_ticks(engine, [tick(0)])  # creates the hypertable chunk, which would lock out other writers

    async def scenario() -> list[Trade]:
        hub = TickHub(engine, poll_interval=0.02, overlap=timedelta(0))
        received: list[Trade] = []
        await hub.subscribe(SERIES, received.extend)
        slow = engine.connect()
        transaction = slow.begin()
        await asyncio.to_thread(slow.execute, ticks.insert().values(**_row(tick(1))))  # now() fixed here
        await asyncio.to_thread(write_ticks, engine, [tick(2)])
        await until(lambda: len(received) == 1)
        await asyncio.sleep(0.2)  # ten polls while the first transaction stays open
        await asyncio.to_thread(transaction.commit)
        slow.close()
        await until(lambda: len(received) == 2)
        await asyncio.to_thread(write_ticks, engine, [tick(3)])
        await until(lambda: len(received) == 3)
        await hub.close()
        return received

    assert [price for _, price, _, _ in asyncio.run(scenario())] == [2.0, 1.0, 3.0]
    engine.dispose()


def test_a_tick_with_an_old_event_time_stored_now_is_pushed(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    old = Tick(*SERIES, datetime(2024, 1, 1, tzinfo=UTC), "aggTrade", "7", Decimal("9.5"), None, None)

    async def scenario() -> list[Trade]:
        hub = TickHub(engine, poll_interval=0.02)
        received: list[Trade] = []
        await hub.subscribe(SERIES, received.extend)
        await asyncio.to_thread(write_ticks, engine, [old])
        await until(lambda: len(received) == 1)
        await hub.close()
        return received

    assert asyncio.run(scenario()) == [(0, 9.5, 0.0, datetime(2024, 1, 1, tzinfo=UTC).timestamp())]
    engine.dispose()


def test_one_poll_per_series_shared_and_stopped_with_the_last_subscriber(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)

    async def scenario() -> None:
        hub = TickHub(engine, poll_interval=0.02)
        first: list[Trade] = []
        second: list[Trade] = []
        await hub.subscribe(SERIES, first.extend)
        await hub.subscribe(SERIES, second.extend)
        assert len(hub._pollers) == 1
        await asyncio.to_thread(write_ticks, engine, [tick(1)])
        await until(lambda: len(first) == len(second) == 1)
        hub.unsubscribe(SERIES, first.extend)
        assert len(hub._pollers) == 1
        hub.unsubscribe(SERIES, second.extend)
        assert hub._pollers == {}
        await hub.close()

    asyncio.run(scenario())
    engine.dispose()


def test_database_outage_is_logged_and_polling_resumes(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(sqlite_url)

    async def scenario() -> list[Trade]:
        hub = TickHub(engine, poll_interval=0.02)
        received: list[Trade] = []
        await hub.subscribe(SERIES, received.extend)
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE market_data_ticks RENAME TO hidden")
        await asyncio.sleep(0.1)
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE hidden RENAME TO market_data_ticks")
        await asyncio.to_thread(write_ticks, engine, [tick(1)])
        await until(lambda: len(received) == 1, timeout=5)
        await hub.close()
        return received

    assert len(asyncio.run(scenario())) == 1
    assert "retrying" in caplog.text
    engine.dispose()


def _row(item: Tick) -> dict[str, object]:
    return {
        "exchange": item.exchange,
        "symbol": item.symbol,
        "timestamp": item.timestamp,
        "source": item.source,
        "trade_id": item.trade_id,
        "price": item.price,
        "size": item.size,
        "side": item.side,
    }


def _insert(engine: Engine, row: dict[str, object]) -> None:
    with engine.begin() as conn:
        conn.execute(ticks.insert().values(**row))


@pytest.mark.postgres
def test_an_open_history_answer_does_not_hold_back_the_write_horizon(pg_url: str) -> None:
    """A download holds a read-only transaction for its whole length; it can never insert a tick."""
    engine = create_engine(pg_url)
    write_bars(engine, [Bar(*SERIES, "1m", NOW, "1", "2", "0.5", "1.5", "10")])
    everything = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
    with open_bars(engine, SERIES, BarSource(60, "1m"), *everything, ()) as stream:
        assert len(stream.fetch(10)) == 1  # the transaction is open and its cursor still declared
        after_it_began = datetime.now(UTC)
        poll = ticks_ingested_since(engine, *SERIES, None)
    assert poll.horizon is not None
    assert poll.horizon >= after_it_began
    engine.dispose()
