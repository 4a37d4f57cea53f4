"""Migrations on real TimescaleDB, on PostgreSQL without the extension, and on SQLite."""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from mdtool.migrate import alembic_config, current_revision, head_revision, upgrade
from mdtool.storage.engine import create_engine
from mdtool.storage.schema import BAR_KEY, TICK_KEY
from mdtool.storage.timescale import PLAIN_TABLES_WARNING, hypertables
from tests.pg_cluster import PostgresCluster


def primary_keys(url: str) -> dict[str, tuple[str, ...]]:
    engine = create_engine(url)
    inspector = inspect(engine)
    keys = {
        table: tuple(inspector.get_pk_constraint(table)["constrained_columns"])
        for table in ("market_data_ohlcv", "market_data_ticks")
    }
    engine.dispose()
    return keys


def test_migrations_upgrade_an_empty_postgres_database_and_are_idempotent(pg_empty_url: str) -> None:
    assert upgrade(pg_empty_url) == head_revision()
    assert upgrade(pg_empty_url) == head_revision()
    engine = create_engine(pg_empty_url)
    with engine.connect() as conn:
        assert hypertables(conn) == {"market_data_ohlcv", "market_data_ticks"}
        chunk = conn.execute(
            text(
                "SELECT time_interval FROM timescaledb_information.dimensions WHERE hypertable_name = 'market_data_ticks'"
            )
        ).scalar_one()
        indexes = {
            row[0]
            for row in conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename LIKE 'market_data_%'")
            )
        }
    assert current_revision(engine) == head_revision()
    engine.dispose()
    assert chunk.days == 1
    assert not {"market_data_ticks_timestamp_idx", "market_data_ohlcv_timestamp_idx"} & indexes
    assert {"market_data_ticks_pkey", "market_data_ohlcv_pkey"} <= indexes
    assert primary_keys(pg_empty_url) == {"market_data_ohlcv": BAR_KEY, "market_data_ticks": TICK_KEY}


def test_migrations_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert upgrade(url) == head_revision()
    assert upgrade(url) == head_revision()
    assert primary_keys(url) == {"market_data_ohlcv": BAR_KEY, "market_data_ticks": TICK_KEY}


@pytest.fixture(scope="module")
def plain_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(timescaledb=False)
    yield cluster
    cluster.destroy()


def test_plain_postgres_gets_plain_tables_and_a_loud_warning(
    plain_cluster: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    url = plain_cluster.create_database("plain")
    with caplog.at_level(logging.WARNING):
        upgrade(url)
    assert PLAIN_TABLES_WARNING.split(":")[0] in caplog.text
    engine = create_engine(url)
    with engine.connect() as conn:
        assert hypertables(conn) == set()
    engine.dispose()
    assert primary_keys(url) == {"market_data_ohlcv": BAR_KEY, "market_data_ticks": TICK_KEY}


def test_migrate_refuses_an_unreachable_database_with_one_line() -> None:
    from mdtool.errors import DatabaseError
    from tests.pg_cluster import free_port

    with pytest.raises(DatabaseError) as raised:
        upgrade(f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    assert "\n" not in str(raised.value)


def test_an_older_database_loses_the_time_only_indexes(pg_empty_url: str) -> None:
    """A database made before revision 0006 had TimescaleDB's default `timestamp DESC` indexes."""
    command.upgrade(alembic_config(pg_empty_url), "0005")
    engine = create_engine(pg_empty_url)
    with engine.begin() as conn:
        for table in ("market_data_ohlcv", "market_data_ticks"):
            conn.execute(text(f'CREATE INDEX "{table}_timestamp_idx" ON "{table}" ("timestamp" DESC)'))
    assert upgrade(pg_empty_url) == head_revision()
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM pg_indexes WHERE indexname LIKE '%_timestamp_idx'"))
        assert left.scalar_one() == 0
    engine.dispose()
