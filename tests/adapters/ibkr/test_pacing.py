"""The client-side pacer on an injected clock: IB's three rules, exactly at their edges."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mdtool.adapters.ibkr import ContractSpec
from mdtool.adapters.ibkr.ledger import COMPACT_BYTES, Ledger, default_path
from mdtool.adapters.ibkr.pacing import Pacer, PacingRules
from mdtool.errors import ExchangeError
from tests.adapters.ibkr.conftest import CONTRACTS, NOW, make_source
from tests.fakes.ib_gateway import FakeIBGateway

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


def test_bid_ask_counts_twice_in_the_burst_rule_too() -> None:
    p, clock = pacer()
    for i in range(2):
        p.record(i, "aapl", weight=2)
        clock.now += 0.1
    assert p.delay(2, "aapl") == 0  # 4 + 1 = 5 fits
    assert p.delay(2, "aapl", weight=2) == pytest.approx(1.8)  # 4 + 2 = 6 would be a violation


def test_pacers_sharing_a_ledger_see_each_others_requests(tmp_path: Path) -> None:
    clock = Clock()
    ledger = tmp_path / "pacing.jsonl"
    first = Pacer(RULES, clock=clock, ledger=Ledger(ledger))
    second = Pacer(RULES, clock=clock, ledger=Ledger(ledger))
    first.record(("AAPL", "1 D"), "aapl")
    clock.now += 5
    assert second.delay(("AAPL", "1 D"), "aapl") == pytest.approx(10)
    assert first.delay(("AAPL", "1 D"), "aapl") == pytest.approx(10)  # its own line is not counted twice
    assert len(ledger.read_text().splitlines()) == 1


def test_an_unusable_ledger_falls_back_to_this_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    clock = Clock()
    p = Pacer(RULES, clock=clock, ledger=Ledger(blocker / "pacing.jsonl"))
    p.record("req", "aapl")
    assert p.delay("req", "aapl") == pytest.approx(15)
    assert "cannot use the IB pacing ledger" in caplog.text


def test_the_ledger_forgets_old_lines_when_it_grows(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "pacing.jsonl"
    p = Pacer(RULES, clock=clock, ledger=Ledger(path))
    for i in range(2000):
        p.record(i, "aapl")
        clock.now += 1
    assert path.stat().st_size <= COMPACT_BYTES
    assert len(Ledger(path).read(clock.now - 600)) == 600


def test_other_processes_never_hold_a_request_back_for_minutes(tmp_path: Path) -> None:
    """The ledger may hold lines written against an earlier gateway on the same port: only the short
    rules (identical, burst) count them, so a fresh run never waits for another's 10-minute window."""
    clock = Clock()
    ledger = tmp_path / "pacing.jsonl"
    busy = Pacer(RULES, clock=clock, ledger=Ledger(ledger))
    for i in range(60):
        busy.record(i, i)
        clock.now += 0.5
    clock.now += 15
    fresh = Pacer(RULES, clock=clock, ledger=Ledger(ledger))
    assert busy.delay("next", "x") > 500
    assert fresh.delay("next", "x") == 0


def test_the_ledger_needs_no_home_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """cron jobs and containers may run without HOME (and without a passwd entry)."""
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setattr(Path, "home", _no_home)
    path = default_path("127.0.0.1", 4001)
    assert path.name == "ibkr-pacing-127.0.0.1-4001.jsonl" and path.is_absolute()


def _no_home() -> Path:
    raise RuntimeError("Could not determine home directory.")
