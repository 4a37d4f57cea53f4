"""The fake gateway itself, driven by the real, unmodified ib_async: if these fail, nothing else counts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import pytest
from ib_async import IB, Contract, Stock

from tests.fakes.ib_gateway import ACCOUNT, FakeContract, FakeIBGateway, PacingRules

NOW = datetime(2026, 1, 6, 15, 0, 30, tzinfo=UTC)
AAPL = FakeContract(265598, "AAPL", long_name="APPLE INC")
FAST = PacingRules(identical_seconds=0.5, burst_seconds=0.5, burst_max=5, window_seconds=3, window_max=8)
T = TypeVar("T")


@pytest.fixture
def gateway() -> Iterator[FakeIBGateway]:
    with FakeIBGateway([AAPL], pacing=FAST, now=lambda: NOW) as fake:
        yield fake


def run(gateway: FakeIBGateway, body: Callable[[IB], Awaitable[T]], **connect: Any) -> T:
    """Connect a fresh IB to the fake, run `body`, disconnect; everything under one deadline."""

    async def main() -> T:
        ib = IB()
        await ib.connectAsync("127.0.0.1", gateway.port, clientId=7, timeout=3, **connect)
        try:
            return await asyncio.wait_for(body(ib), 10)
        finally:
            ib.disconnect()

    return asyncio.run(main())


def test_full_startup_sync_completes(gateway: FakeIBGateway) -> None:
    """Every start-up request gets its End message: with `raiseSyncErrors` a request left waiting makes
    `connectAsync` raise (after its 3 s timeout) instead of returning."""

    async def body(ib: IB) -> list[str]:
        return list(ib.managedAccounts())

    assert run(gateway, body, raiseSyncErrors=True) == [ACCOUNT]


def test_contract_details_known_and_unknown(gateway: FakeIBGateway) -> None:
    errors: list[int] = []

    async def body(ib: IB) -> tuple[list[Any], list[Any]]:
        ib.errorEvent += lambda _req, code, _msg, _c: errors.append(code)
        known = await ib.reqContractDetailsAsync(Stock("AAPL", "SMART", "USD"))
        unknown = await ib.reqContractDetailsAsync(Stock("NOPE", "SMART", "USD"))
        return known, unknown

    known, unknown = run(gateway, body)
    assert [d.contract.conId for d in known] == [265598]
    assert known[0].longName == "APPLE INC"
    assert known[0].contract.primaryExchange == "NASDAQ"
    assert unknown == []
    assert errors == [200]


def test_historical_bars_include_the_bar_in_progress(gateway: FakeIBGateway) -> None:
    async def body(ib: IB) -> list[Any]:
        contract = Contract(conId=265598, exchange="SMART")
        return list(await ib.reqHistoricalDataAsync(contract, NOW, "300 S", "1 min", "TRADES", True, 2))

    bars = run(gateway, body)
    assert [b.date for b in bars] == [datetime(2026, 1, 6, 14, m, tzinfo=UTC) for m in range(56, 60)] + [
        datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
    ]
    assert all(b.volume > 0 and b.high >= b.low for b in bars)
    request = gateway.historical_requests[0]
    assert (request.end, request.duration, request.bar_size) == ("20260106 15:00:30 UTC", "300 S", "1 min")


def test_daily_bars_are_dates_and_midpoint_has_no_volume(gateway: FakeIBGateway) -> None:
    async def body(ib: IB) -> list[Any]:
        contract = Contract(conId=265598, exchange="SMART")
        return list(await ib.reqHistoricalDataAsync(contract, NOW, "3 D", "1 day", "MIDPOINT", True, 2))

    bars = run(gateway, body)
    assert [b.date for b in bars] == [date(2026, 1, 4), date(2026, 1, 5), date(2026, 1, 6)]
    assert {b.volume for b in bars} == {-1}


def test_step_size_limit_and_no_data_are_errors(gateway: FakeIBGateway) -> None:
    errors: list[tuple[int, str]] = []

    async def body(ib: IB) -> tuple[int, int]:
        ib.errorEvent += lambda _req, code, msg, _c: errors.append((code, msg))
        contract = Contract(conId=265598, exchange="SMART")
        too_long = await ib.reqHistoricalDataAsync(contract, NOW, "1 D", "1 secs", "TRADES", True, 2)
        too_old = await ib.reqHistoricalDataAsync(
            contract, datetime(2019, 1, 1, tzinfo=UTC), "1 D", "1 min", "TRADES", True, 2
        )
        return len(too_long), len(too_old)

    assert run(gateway, body) == (0, 0)
    assert [code for code, _ in errors] == [162, 162]
    assert "Time length exceed max" in errors[0][1]
    assert "HMDS query returned no data: AAPL@SMART Trades" in errors[1][1]


def test_a_client_that_violates_pacing_is_caught(gateway: FakeIBGateway) -> None:
    """Six quick requests for one contract break the burst rule: the fake answers 162 and records it."""

    async def body(ib: IB) -> list[int]:
        contract = Contract(conId=265598, exchange="SMART")
        ends = [datetime(2026, 1, 6, 14, m, tzinfo=UTC) for m in range(6)]
        results = [
            await ib.reqHistoricalDataAsync(contract, e, "60 S", "1 min", "TRADES", True, 2) for e in ends
        ]
        return [len(r) for r in results]

    assert run(gateway, body)[-1] == 0
    assert len(gateway.violations) == 1
    assert "requests for one contract" in gateway.violations[0]


def test_identical_request_within_window_is_a_violation(gateway: FakeIBGateway) -> None:
    async def body(ib: IB) -> list[int]:
        contract = Contract(conId=265598, exchange="SMART")
        results = [
            await ib.reqHistoricalDataAsync(contract, NOW, "60 S", "1 min", "TRADES", True, 2) for _ in "ab"
        ]
        return [len(r) for r in results]

    assert run(gateway, body) == [1, 0]
    assert "identical request" in gateway.violations[0]


def test_tick_by_tick_trades_and_quotes(gateway: FakeIBGateway) -> None:
    async def body(ib: IB) -> list[Any]:
        seen: list[Any] = []
        ticker = ib.reqTickByTickData(Contract(conId=265598, exchange="SMART"), "AllLast")
        quotes = ib.reqTickByTickData(Contract(conId=265598, exchange="SMART"), "BidAsk")
        assert quotes is ticker  # ib_async keeps one Ticker per contract
        ticker.updateEvent += lambda t: seen.extend(t.tickByTicks)
        await asyncio.to_thread(gateway.wait_for_subscriptions, 2)
        assert gateway.push_trade("AAPL", 1767711600, "189.12", "100") == 1
        assert gateway.push_trade("AAPL", 1767711600, "189.13", "5") == 1
        assert gateway.push_bid_ask("AAPL", 1767711601, "189.10", "189.14", "300", "200") == 1
        while len(seen) < 3:
            await asyncio.sleep(0.01)
        ib.cancelTickByTickData(ticker.contract, "AllLast")
        await asyncio.to_thread(gateway.wait_until, lambda: len(gateway.subscriptions) == 1)
        return seen

    seen = run(gateway, body)
    assert [(t.price, t.size) for t in seen[:2]] == [(189.12, 100.0), (189.13, 5.0)]
    assert (seen[2].bidPrice, seen[2].askSize) == (189.10, 200.0)


def test_drop_and_restart_on_the_same_port(gateway: FakeIBGateway) -> None:
    async def body() -> tuple[bool, bool]:
        ib = IB()
        dropped = asyncio.Event()
        ib.disconnectedEvent += dropped.set
        await ib.connectAsync("127.0.0.1", gateway.port, clientId=3, timeout=3)
        await asyncio.to_thread(gateway.stop_listening)
        await asyncio.wait_for(dropped.wait(), 3)
        with pytest.raises(ConnectionRefusedError):
            await ib.connectAsync("127.0.0.1", gateway.port, clientId=3, timeout=3)
        await asyncio.to_thread(gateway.start_listening)
        await ib.connectAsync("127.0.0.1", gateway.port, clientId=3, timeout=3)
        connected = ib.isConnected()
        ib.disconnect()
        return dropped.is_set(), connected

    assert asyncio.run(body()) == (True, True)
    assert gateway.connections_total == 2


def test_error_messages_carry_the_sixth_field(gateway: FakeIBGateway) -> None:
    async def body(ib: IB) -> list[tuple[int, int]]:
        seen: list[tuple[int, int]] = []
        got = asyncio.Event()

        def on_error(req: int, code: int, _msg: str, _c: object) -> None:
            seen.append((req, code))
            got.set()

        ib.errorEvent += on_error
        await asyncio.to_thread(
            gateway.send_error, -1, 1100, "Connectivity between IB and TWS has been lost."
        )
        await asyncio.wait_for(got.wait(), 3)
        return seen

    assert run(gateway, body) == [(-1, 1100)]


def test_keep_up_to_date_sends_the_initial_bars_then_updates(gateway: FakeIBGateway) -> None:
    async def body(ib: IB) -> list[Any]:
        contract = Contract(conId=265598, exchange="SMART")
        bars = await ib.reqHistoricalDataAsync(
            contract, "", "120 S", "1 min", "TRADES", True, 2, keepUpToDate=True
        )
        updated = asyncio.Event()
        bars.updateEvent += lambda _bars, has_new: has_new and updated.set()
        opened = datetime(2026, 1, 6, 15, 1, tzinfo=UTC)
        await asyncio.to_thread(gateway.push_bar_update, bars.reqId, opened, ("1", "2", "0.5", "1.5"))
        await asyncio.wait_for(updated.wait(), 3)
        return list(bars)

    bars = run(gateway, body)
    assert [b.date.minute for b in bars] == [59, 0, 1]
    assert (bars[-1].open, bars[-1].high, bars[-1].low, bars[-1].close) == (1.0, 2.0, 0.5, 1.5)
