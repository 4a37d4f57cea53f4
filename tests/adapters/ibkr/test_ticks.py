"""Pure tick conversion: wire second timestamps, exact decimals, ids stable under interleaving."""

from __future__ import annotations

from datetime import UTC, datetime

from mdtool.adapters.ibkr.ticks import QuoteEvent, TickIds, TradeEvent, quote_tick, trade_tick


def trade(price: float, epoch: int = 1767711600) -> TradeEvent:
    return TradeEvent(epoch, price, 100.0, "NASDAQ", "", False, False)


def test_ids_count_identical_events_within_one_second_only() -> None:
    ids = TickIds()
    a1, b, a2 = (trade_tick("AAPL", trade(p), ids).trade_id for p in (1.5, 2.5, 1.5))
    assert a1.endswith("-0") and a2 == a1[:-1] + "1" and b.endswith("-0")
    later = trade_tick("AAPL", trade(1.5, 1767711601), ids).trade_id
    assert later.endswith("-0") and later != a1


def test_ids_do_not_depend_on_interleaving() -> None:
    one, other = TickIds(), TickIds()
    first = [trade_tick("AAPL", trade(p), one).trade_id for p in (1.5, 2.5, 1.5)]
    second = [trade_tick("AAPL", trade(p), other).trade_id for p in (2.5, 1.5, 1.5)]
    assert sorted(first) == sorted(second)


def test_trade_and_quote_records() -> None:
    ids = TickIds()
    tick = trade_tick("AAPL", TradeEvent(1767711600, 189.12, 0.5, "ARCA", "T I", True, False), ids)
    assert tick.timestamp == datetime(2026, 1, 6, 15, tzinfo=UTC)
    assert (str(tick.price), str(tick.size), tick.side) == ("189.12", "0.5", None)
    assert tick.payload == {"exchange": "ARCA", "conditions": "T I", "past_limit": True}
    quote = quote_tick("EUR.USD", QuoteEvent(1767711600, 1.08215, 1.0822, 1e6, 2e6, False, True), ids)
    assert (quote.source, str(quote.price), str(quote.size)) == ("ibkr.BidAsk", "1.08215", "1000000")
    assert quote.payload == {
        "bid": "1.08215", "ask": "1.0822", "bid_size": "1000000", "ask_size": "2000000", "ask_past_high": True
    }  # fmt: skip
