"""Content of the server's answers, built without sockets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mdtool.dtc import messages as m
from mdtool.dtc.feed import SessionSummary
from mdtool.dtc.replies import logon_accepted, security_definition, snapshot

DAY = datetime(2025, 3, 4, tzinfo=UTC)


def test_snapshot_of_nothing_known_is_all_unset() -> None:
    empty = snapshot(5, SessionSummary(), DAY)
    assert empty == m.MarketDataSnapshot(SymbolID=5, TradingSessionDate=int(DAY.timestamp()))
    assert empty.SessionNumTrades == m.UINT_MAX
    assert empty.LastTradePrice == m.DBL_MAX


def test_snapshot_carries_the_session_and_last_trade() -> None:
    last = datetime(2025, 3, 4, 9, 30, 0, 250_000, tzinfo=UTC)
    summary = SessionSummary(1.0, 3.0, 0.5, 10.0, 4, 2.5, 0.1, last)
    full = snapshot(1, summary, DAY)
    assert (full.SessionOpenPrice, full.SessionHighPrice, full.SessionLowPrice) == (1.0, 3.0, 0.5)
    assert (full.SessionVolume, full.SessionNumTrades) == (10.0, 4)
    assert (full.LastTradePrice, full.LastTradeVolume) == (2.5, 0.1)
    assert full.LastTradeDateTime == last.timestamp()
    assert full.BidPrice == m.DBL_MAX


@pytest.mark.parametrize(("places", "increment"), [(0, 1.0), (2, 0.01), (8, 1e-8)])
def test_security_definition_tick_size_follows_stored_decimals(places: int, increment: float) -> None:
    definition = security_definition(9, ("binance", "BTCUSDT"), places)
    assert (definition.RequestID, definition.Symbol, definition.Exchange) == (9, "BTCUSDT", "binance")
    assert definition.PriceDisplayFormat == places
    assert definition.MinPriceIncrement == pytest.approx(increment)
    assert definition.IsFinalMessage == 1


def test_logon_accepted_offers_data_not_trading() -> None:
    reply = logon_accepted("mdtool")
    assert reply.Result == m.LOGON_SUCCESS
    assert (reply.MarketDataSupported, reply.HistoricalPriceDataSupported) == (1, 1)
    assert (reply.TradingIsSupported, reply.MarketDepthIsSupported) == (0, 0)
    assert reply.SymbolExchangeDelimiter == "-"
