"""The client-side pacer on an injected clock: IB's three rules, exactly at their edges."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.adapters.ibkr.conftest import CONTRACTS, NOW, make_source
from tests.fakes.ib_gateway import FakeIBGateway

from mdtool.adapters.ibkr import ContractSpec
from mdtool.adapters.ibkr.pacing import Pacer, PacingRules
from mdtool.errors import ExchangeError

RULES = PacingRules(margin_seconds=0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pacer() -> tuple[Pacer, Clock]:
    clock = Clock()
    return Pacer(RULES, clock=clock), clock


def test_identical_request_waits_fifteen_seconds() -> None:
    p, clock = pacer()
    p.record("req", "aapl")
    clock.now += 10
    assert p.delay("req", "aapl") == pytest.approx(5)
    assert p.delay("other", "aapl") == 0


def test_sixth_request_for_one_contract_within_two_seconds_waits() -> None:
    p, clock = pacer()
    for i in range(5):
        p.record(i, "aapl")
        clock.now += 0.1
    assert p.delay(5, "aapl") == pytest.approx(1.5)  # until the first of the five is 2 s old
    assert p.delay(5, "msft") == 0


def test_sixty_per_ten_minutes_with_bid_ask_counting_twice() -> None:
    p, clock = pacer()
    for i in range(59):
        p.record(i, i)
        clock.now += 1
    assert p.delay("next", "x") == 0
    assert p.delay("next", "x", weight=2) == pytest.approx(600 - 59)
    p.record("next", "x")
    assert p.delay("more", "y") == pytest.approx(600 - 59)


def test_old_requests_are_forgotten() -> None:
    p, clock = pacer()
    for i in range(60):
        p.record(i, "aapl")
    clock.now += 600
    assert p.delay(0, "aapl") == 0


def test_scaled_rules_keep_the_counts() -> None:
    scaled = PacingRules().scaled(0.01)
    assert (scaled.identical_seconds, scaled.burst_max, scaled.window_max) == (0.15, 5, 60)


def test_a_client_without_pacing_is_caught_by_the_fake() -> None:
    """The safety net works: with pacing switched off the fake sees violations (and a test would fail)."""
    with FakeIBGateway(CONTRACTS, now=lambda: NOW) as fake:  # IB's real windows
        reckless = PacingRules(0, 0, 10_000, 0, 10_000, 0)
        source = make_source(fake, ContractSpec(), pacing=reckless, retries=0)
        start = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
        try:
            with pytest.raises(ExchangeError, match="still failing"):
                for _ in source.fetch_bars("AAPL", "1s", start, datetime(2026, 1, 6, 14, 0, tzinfo=UTC)):
                    pass
        finally:
            source.close()
        assert fake.violations
