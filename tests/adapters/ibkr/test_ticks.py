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


def test_a_historical_tick_and_its_live_twin_are_the_same_row() -> None:
    from ib_async import HistoricalTickBidAsk, HistoricalTickLast, TickAttribBidAsk, TickAttribLast

    at = datetime(2026, 1, 6, 15, tzinfo=UTC)
    live = trade_tick("AAPL", TradeEvent(1767711600, 189.12, 100.0, "ARCA", "I", False, True), TickIds())
    past = HistoricalTickLast(at, TickAttribLast(False, True), 189.12, 100.0, "ARCA", "I")
    assert trade_tick("AAPL", TradeEvent.from_history(past), TickIds()) == live
    quote = QuoteEvent(1767711600, 1.5, 1.6, 10.0, 20.0, True, False)
    historical = HistoricalTickBidAsk(at, TickAttribBidAsk(bidPastLow=True), 1.5, 1.6, 10.0, 20.0)
    assert quote_tick("X", QuoteEvent.from_history(historical), TickIds()) == quote_tick(
        "X", quote, TickIds()
    )


def test_flags_are_not_part_of_the_identity() -> None:
    plain = trade_tick("AAPL", TradeEvent(1767711600, 1.5, 1.0, "ARCA", "", False, False), TickIds())
    flagged = trade_tick("AAPL", TradeEvent(1767711600, 1.5, 1.0, "ARCA", "", True, True), TickIds())
    assert plain.trade_id == flagged.trade_id and plain.timestamp == flagged.timestamp


def test_partial_views_of_a_second_union_to_the_whole() -> None:
    """Live saw the last 2 of 3 identical trades, history all 3: the stored set is exactly 3 ids."""
    history = [trade_tick("AAPL", trade(1.5), ids).trade_id for ids in [TickIds()] for _ in range(3)]
    live = [trade_tick("AAPL", trade(1.5), ids).trade_id for ids in [TickIds()] for _ in range(2)]
    assert len(set(history) | set(live)) == 3
