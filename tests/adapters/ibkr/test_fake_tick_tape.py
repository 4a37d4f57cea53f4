"""The fake's tick tape, driven by the real ib_async: historical ticks (TRADES, BID_ASK, MIDPOINT, the
1,000-tick cap, whole seconds, pacing) and the tick-by-tick subscription limit (error 10190)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from ib_async import IB, RequestError, Stock

from tests.adapters.ibkr.test_fake_gateway import AAPL, FAST, run
from tests.fakes.ib_gateway import FakeContract, FakeIBGateway

EPOCH = 1767711600  # 2026-01-06 15:00:00 UTC
MSFT = FakeContract(272093, "MSFT")


@pytest.fixture
def gateway() -> Any:
    with FakeIBGateway([AAPL, MSFT], pacing=FAST) as fake:
        yield fake


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def test_trades_are_capped_at_1000_plus_the_rest_of_the_last_second(gateway: FakeIBGateway) -> None:
    for i in range(1500):  # 100 trades a second
        gateway.push_trade("AAPL", EPOCH + i // 100, f"10.{i % 100:02d}", "1", "ARCA", mask=2, conditions="I")

    async def body(ib: IB) -> tuple[list[Any], list[Any]]:
        first = await ib.reqHistoricalTicksAsync(
            Stock("AAPL", "SMART", "USD"), at(EPOCH), "", 950, "TRADES", False
        )
        second = await ib.reqHistoricalTicksAsync(
            Stock("AAPL", "SMART", "USD"), at(EPOCH + 10), "", 1000, "TRADES", False
        )
        return first, second

    first, second = run(gateway, body)
    assert len(first) == 1000  # 950 reach into second 9, whose other 50 trades come along
    assert first[0].time == at(EPOCH) and first[-1].time == at(EPOCH + 9)
    assert (first[0].price, first[0].size, first[0].exchange, first[0].specialConditions) == (
        10.0,
        1.0,
        "ARCA",
        "I",
    )
    assert first[0].tickAttribLast.unreported and not first[0].tickAttribLast.pastLimit
    assert len(second) == 500 and second[0].time == at(EPOCH + 10)
    assert gateway.violations == []


def test_more_than_1000_ticks_is_refused_and_counted_as_a_violation(gateway: FakeIBGateway) -> None:
    async def body(ib: IB) -> None:
        await ib.reqHistoricalTicksAsync(Stock("AAPL", "SMART", "USD"), at(EPOCH), "", 1001, "TRADES", False)

    async def main() -> None:
        ib = IB()
        ib.RaiseRequestErrors = True
        await ib.connectAsync("127.0.0.1", gateway.port, clientId=8, timeout=3)
        try:
            await asyncio.wait_for(body(ib), 5)
        finally:
            ib.disconnect()

    with pytest.raises(RequestError) as caught:
        asyncio.run(main())
    assert caught.value.code == 162
    assert gateway.violations and "1..1000" in gateway.violations[0]


def test_by_end_time_the_last_ticks_before_it(gateway: FakeIBGateway) -> None:
    for i in range(30):
        gateway.push_trade("AAPL", EPOCH + i // 10, "10", "1")

    async def body(ib: IB) -> list[Any]:
        return await ib.reqHistoricalTicksAsync(
            Stock("AAPL", "SMART", "USD"), "", at(EPOCH + 1), 15, "TRADES", False
        )

    ticks = run(gateway, body)
    assert len(ticks) == 20 and ticks[0].time == at(EPOCH)  # 15 back reach second 0, whose 10 all come


def test_bid_ask_and_midpoint_from_the_quote_tape(gateway: FakeIBGateway) -> None:
    gateway.push_bid_ask("AAPL", EPOCH, "189.10", "189.14", "300", "200", mask=1)  # bidPastLow

    async def body(ib: IB) -> tuple[list[Any], list[Any]]:
        quotes = await ib.reqHistoricalTicksAsync(
            Stock("AAPL", "SMART", "USD"), at(EPOCH), "", 10, "BID_ASK", False
        )
        mids = await ib.reqHistoricalTicksAsync(
            Stock("AAPL", "SMART", "USD"), at(EPOCH), "", 10, "MIDPOINT", False
        )
        return quotes, mids

    (quote,), (mid,) = run(gateway, body)
    assert (quote.priceBid, quote.priceAsk, quote.sizeBid, quote.sizeAsk) == (189.10, 189.14, 300, 200)
    assert quote.tickAttribBidAsk.bidPastLow and not quote.tickAttribBidAsk.askPastHigh
    assert mid.price == pytest.approx(189.12)


def test_an_empty_span_is_an_empty_answer(gateway: FakeIBGateway) -> None:
    async def body(ib: IB) -> list[Any]:
        return await ib.reqHistoricalTicksAsync(
            Stock("AAPL", "SMART", "USD"), at(EPOCH), "", 1000, "TRADES", False
        )

    assert run(gateway, body) == []


def test_historical_ticks_are_paced_and_bid_ask_counts_twice(gateway: FakeIBGateway) -> None:
    errors: list[int] = []

    async def body(ib: IB) -> None:
        ib.errorEvent += lambda _req, code, _msg, _c: errors.append(code)
        for n in range(3):  # 3 BID_ASK requests weigh 6 > the burst limit of 5
            await ib.reqHistoricalTicksAsync(
                Stock("AAPL", "SMART", "USD"), at(EPOCH + n), "", 10, "BID_ASK", False
            )

    run(gateway, body)
    assert errors == [162] and len(gateway.violations) == 1


def test_tick_by_tick_subscriptions_beyond_the_limit_get_10190(gateway: FakeIBGateway) -> None:
    gateway.tick_by_tick_limit = 1
    errors: list[tuple[int, str]] = []
    held: list[int] = []

    async def body(ib: IB) -> None:
        ib.errorEvent += lambda _req, code, msg, _c: (
            errors.append((code, msg)),
            held.append(len(gateway.subscriptions)),
        )
        ib.reqTickByTickData(Stock("AAPL", "SMART", "USD", conId=AAPL.con_id), "AllLast")
        ib.reqTickByTickData(Stock("MSFT", "SMART", "USD", conId=MSFT.con_id), "AllLast")
        for _ in range(200):
            if errors:
                return
            await asyncio.sleep(0.01)

    run(gateway, body)
    assert errors == [(10190, "Max number of tick-by-tick requests has been reached.")]
    assert held == [1]
