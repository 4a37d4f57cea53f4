"""Fixtures for the IBKR adapter: a fake gateway with pacing windows scaled down 50x, and sources on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from mdtool.adapters.ibkr import ContractSpec, Endpoint, HistoryOptions, IbkrBarSource
from mdtool.adapters.ibkr.pacing import PacingRules
from tests.fakes.ib_gateway import FakeContract, FakeIBGateway
from tests.fakes.ib_gateway import PacingRules as GatewayPacing

NOW = datetime(2026, 1, 6, 15, 0, 30, tzinfo=UTC)
SCALE = 0.02  # 15 s -> 0.3 s, 2 s -> 0.04 s, 10 min -> 12 s
CONTRACTS = [
    FakeContract(265598, "AAPL", long_name="APPLE INC"),
    FakeContract(272093, "MSFT", long_name="MICROSOFT CORP"),
    FakeContract(12087792, "EUR", "CASH", "IDEALPRO", "USD", ("IDEALPRO",), local_symbol="EUR.USD",
                 base_price=Decimal("1.08")),
    FakeContract(4001, "DUAL", primary_exchange="NYSE", exchanges=("SMART", "NYSE")),
    FakeContract(4002, "DUAL", primary_exchange="ARCA", exchanges=("SMART", "ARCA")),
    FakeContract(495512563, "ES", "FUT", "CME", "USD", ("CME",), expiry="20260320", local_symbol="ESH6",
                 multiplier="50", base_price=Decimal("6000")),
]  # fmt: skip


def gateway_pacing(window_max: int = 60, window_seconds: float = 600 * SCALE) -> GatewayPacing:
    return GatewayPacing(15 * SCALE, 2 * SCALE, 5, window_seconds, window_max)


def client_pacing(window_max: int = 60, window_seconds: float = 600 * SCALE) -> PacingRules:
    return PacingRules(15 * SCALE, 2 * SCALE, 5, window_seconds, window_max, margin_seconds=0.01)


@pytest.fixture
def gateway() -> Iterator[FakeIBGateway]:
    """The fake gateway; a test passes only if no request broke IB's pacing rules."""
    with FakeIBGateway(CONTRACTS, pacing=gateway_pacing(), now=lambda: NOW) as fake:
        yield fake
        assert fake.violations == []


def make_source(gateway: FakeIBGateway, spec: ContractSpec | None = None, **options: object) -> IbkrBarSource:
    settings: dict[str, object] = {
        "pacing": client_pacing(),
        "backoff_seconds": 0.05,
        "request_timeout": 5.0,
        "connect_timeout": 3.0,
        "connect_patience": 2.0,
        "now": lambda: NOW,
    }
    settings.update(options)
    return IbkrBarSource(
        Endpoint("127.0.0.1", gateway.port, 11),
        spec or ContractSpec(),
        HistoryOptions(**settings),  # type: ignore[arg-type]
    )


@pytest.fixture
def source(gateway: FakeIBGateway) -> Iterator[IbkrBarSource]:
    created = make_source(gateway)
    yield created
    created.close()


@pytest.fixture(autouse=True)
def private_pacing_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own shared-pacing ledger directory (the CLI children inherit it)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
