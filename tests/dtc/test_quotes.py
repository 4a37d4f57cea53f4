"""Stored quotes (IB's tick-by-tick BidAsk) reach the client as bid/ask, never as trades."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mdtool.records import Tick
from mdtool.storage.engine import create_engine
from mdtool.storage.writer import write_ticks
from tests.dtc import client as c
from tests.dtc.conftest import RunningServer

Factory = Callable[..., RunningServer]
NOW = datetime.now(UTC).replace(microsecond=0)
T0 = max(NOW - timedelta(minutes=2), NOW.replace(hour=0, minute=0, second=0))


def quote(n: int, bid: str, ask: str, bid_size: str = "300", ask_size: str = "200") -> Tick:
    """As `adapters/ibkr/ticks.quote_tick` stores one: the bid as price, the whole quote in payload."""
    payload = {"bid": bid, "ask": ask, "bid_size": bid_size, "ask_size": ask_size}
    moment = T0 + timedelta(seconds=n)
    return Tick(
        "ibkr", "AAPL", moment, "ibkr.BidAsk", f"q{n}", Decimal(bid), Decimal(bid_size), None, payload
    )


def trade(n: int, price: str) -> Tick:
    return Tick(
        "ibkr", "AAPL", T0 + timedelta(seconds=n), "ibkr.AllLast", f"t{n}", Decimal(price), Decimal(10)
    )


@pytest.mark.postgres
def test_snapshot_and_live_bid_ask(dtc_factory: Factory, pg_url: str) -> None:
    writer = create_engine(pg_url)
    write_ticks(writer, [trade(1, "190.5"), quote(2, "190.49", "190.51")])
    server = dtc_factory(poll_interval=0.05)
    conn = server.client()
    conn.send(c.logon_request(heartbeat=0))
    logon = conn.expect(2)
    assert (logon["MarketDataSupported"], logon["MarketDepthIsSupported"]) == (1, 0)
    assert logon["MarketDepthUpdatesBestBidAndAsk"] == 0  # no depth is sent: the flag stays truthful
    conn.send(c.market_data_request(1, 4, "AAPL", "ibkr"))
    snapshot = conn.expect(104)
    assert (snapshot["BidPrice"], snapshot["AskPrice"]) == (190.49, 190.51)
    assert (snapshot["BidQuantity"], snapshot["AskQuantity"]) == (300, 200)
    assert snapshot["BidAskDateTime"] == (T0 + timedelta(seconds=2)).timestamp()
    assert (snapshot["LastTradePrice"], snapshot["SessionNumTrades"]) == (190.5, 1)  # the quote is no trade

    write_ticks(writer, [quote(3, "190.52", "190.55", "100", "700"), trade(4, "190.55")])
    update = conn.expect(108)
    assert update == {
        "Type": 108,
        "SymbolID": 4,
        "BidPrice": 190.52,
        "BidQuantity": 100.0,
        "AskPrice": 190.55,
        "AskQuantity": 700.0,
        "DateTime": int((T0 + timedelta(seconds=3)).timestamp()),
    }
    assert conn.expect(107)["Price"] == 190.55
    writer.dispose()


def test_quotes_are_not_in_tick_history(sqlite_dtc_factory: Factory, sqlite_url: str) -> None:
    writer = create_engine(sqlite_url)
    write_ticks(writer, [trade(1, "190.5"), quote(2, "1", "2"), trade(3, "190.6")])
    writer.dispose()
    conn = sqlite_dtc_factory().client()
    conn.send(c.logon_request(heartbeat=0))
    assert conn.expect(2)["Result"] == 1
    conn.send(c.historical_request(1, "AAPL", "ibkr", 0))
    assert conn.expect(801)["NoRecordsToReturn"] == 0
    assert [conn.expect(804)["Price"] for _ in range(2)] == [190.5, 190.6]
