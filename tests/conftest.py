"""Shared fixtures: a real PostgreSQL + TimescaleDB cluster for the session, fresh databases per test.

Tests that need PostgreSQL fail (never skip) when the cluster cannot start: a green run must mean the
real database was exercised.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mdtool.migrate import upgrade
from mdtool.storage.engine import create_engine
from tests.pg_cluster import PostgresCluster

_TEMPLATE = "mdtool_migrated_template"
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.create_database(_TEMPLATE)
        upgrade(cluster.url(_TEMPLATE))
        with cluster.admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (_TEMPLATE,)
            )
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> str:
    """URL of a fresh database, already migrated to head (TimescaleDB hypertables in place)."""
    return pg_cluster.create_database(f"test_{next(_counter)}", template=_TEMPLATE)


@pytest.fixture
def pg_empty_url(pg_cluster: PostgresCluster) -> str:
    """URL of a fresh, never migrated database."""
    return pg_cluster.create_database(f"empty_{next(_counter)}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite file, already migrated to head."""
    url = f"sqlite:///{tmp_path / 'mdtool.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once on TimescaleDB and once on SQLite."""
    fixture = "pg_url" if request.param == "postgresql" else "sqlite_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    created = create_engine(db_url)
    yield created
    created.dispose()
