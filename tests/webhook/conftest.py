from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from mdtool.storage.engine import create_engine
from tests.pg_cluster import PostgresCluster
from tests.webhook.certs import Pki, make_pki
from tests.webhook.server import WebhookServer

_counter = itertools.count()


@pytest.fixture(scope="module")
def webhook_db(pg_cluster: PostgresCluster) -> str:
    """One migrated database per test module (tests use distinct symbols), so one server serves all."""
    return pg_cluster.create_database(f"webhook_{next(_counter)}", template="mdtool_migrated_template")


@pytest.fixture(scope="module")
def server(webhook_db: str) -> Iterator[WebhookServer]:
    with WebhookServer(webhook_db) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: WebhookServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def db(webhook_db: str) -> Iterator[Engine]:
    engine = create_engine(webhook_db)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA, a server certificate for 127.0.0.1 and client certificates (see `certs`)."""
    return make_pki(tmp_path_factory.mktemp("pki"))
