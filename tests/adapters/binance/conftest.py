"""Fixtures for the Binance adapter tests: a fake exchange on loopback and clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mdtool.adapters.binance.rest import BinanceRest
from tests.fakes.binance import FakeBinance


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        yield exchange


@pytest.fixture
def rest(fake: FakeBinance) -> Iterator[BinanceRest]:
    """A client whose retry backoff is scaled down so failure tests stay fast."""
    client = BinanceRest(fake.base_url, timeout=5, backoff=0.01, backoff_cap=0.05)
    yield client
    client.close()
