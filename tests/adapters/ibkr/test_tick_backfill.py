"""`mdtool backfill ibkr SYMBOL ticks`: the tick-series mode of the shared driver over IB's historical
ticks, on TimescaleDB and SQLite: the live stream's rows, paging past 1,000, resume, empty minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from mdtool.adapters.ibkr import ContractSpec, IbkrTickSource
from mdtool.adapters.ibkr.ticks import TickIds, TradeEvent, trade_tick
from mdtool.backfill import BackfillRequest
from mdtool.errors import UsageError
from mdtool.storage.queries import ticks_between
from mdtool.storage.writer import write_ticks
from mdtool.tick_backfill import run_tick_backfill
from tests.adapters.ibkr.conftest import NOW, make_source
from tests.adapters.ibkr.test_ibkr_cli import mdtool, query
from tests.fakes.ib_gateway import FakeIBGateway

DAY = datetime(2026, 1, 5, 15, tzinfo=UTC)  # a settled day before NOW
E = int(DAY.timestamp())


def tick_source(gateway: FakeIBGateway, what: str | None = None) -> IbkrTickSource:
    bars = make_source(gateway)  # the same options, scaled pacing, fake's clock
    options = bars.options
    bars.close()
    return IbkrTickSource(bars.endpoint, ContractSpec(what_to_show=what), options)


def tape(gateway: FakeIBGateway, seconds: range, per_second: int, symbol: str = "AAPL") -> None:
    for second in seconds:
        for n in range(per_second):
            gateway.push_trade(symbol, E + second, f"10.{n % 3}", "1")  # identical trades within a second


def test_ticks_are_the_rows_the_live_stream_writes_paged_past_1000(
    engine: Engine, gateway: FakeIBGateway
) -> None:
    tape(gateway, range(5), 450)  # 2,250 ticks: three requests
    live_ids = TickIds()
    live = [  # what the stream stored of second 1 before an outage, with its own ids
        trade_tick(
            "AAPL", TradeEvent(E + 1, (10.0, 10.1, 10.2)[n % 3], 1.0, "NASDAQ", "", False, False), live_ids
        )
        for n in range(100)
    ]
    write_ticks(engine, live)
    source = tick_source(gateway)
    try:
        skipped = run_tick_backfill(engine, source, BackfillRequest("AAPL", "ticks", since=DAY), now=NOW)
        request = BackfillRequest("AAPL", "ticks", since=DAY, refetch=True)
        summary = run_tick_backfill(engine, source, request, now=NOW)
    finally:
        source.close()
    assert skipped.bars_received == 0  # a minute with a stored tick counts as stored; --refetch repairs it
    stored = ticks_between(engine, "ibkr", "AAPL", DAY, DAY + timedelta(minutes=1))
    assert len(stored) == 2250 and summary.bars_stored == 2150  # the 100 live rows collided
    assert {t.source for t in stored} == {"ibkr.AllLast"} and summary.requests >= 3
    assert {t.trade_id for t in live} <= {t.trade_id for t in stored}
    assert "2150 ticks stored" in summary.line()


def test_cron_mode_resumes_at_the_newest_tick(engine: Engine, gateway: FakeIBGateway) -> None:
    tape(gateway, range(3), 10)
    source = tick_source(gateway)
    try:
        run_tick_backfill(engine, source, BackfillRequest("AAPL", "ticks", since=DAY), now=NOW)
        tape(gateway, range(3, 6), 10)
        asked = len(gateway.historical_requests)
        again = run_tick_backfill(engine, source, BackfillRequest("AAPL", "ticks"), now=NOW)
    finally:
        source.close()
    assert again.bars_stored == 30 and again.bars_received == 40  # second 2 re-read, whole
    starts = [r.end.split("|")[0] for r in gateway.historical_requests[asked:]]
    assert starts[0] == (DAY + timedelta(seconds=2)).strftime("%Y%m%d %H:%M:%S UTC")
    assert len(ticks_between(engine, "ibkr", "AAPL", DAY, NOW)) == 60


def test_empty_minutes_are_remembered_and_not_asked_again(engine: Engine, gateway: FakeIBGateway) -> None:
    tape(gateway, range(0, 600, 300), 2)  # trades at minute 0 and minute 5 only
    source = tick_source(gateway)
    until = DAY + timedelta(minutes=10)
    try:
        first = run_tick_backfill(
            engine, source, BackfillRequest("AAPL", "ticks", since=DAY, until=until), now=NOW
        )
        asked = len(gateway.historical_requests)
        again = run_tick_backfill(
            engine, source, BackfillRequest("AAPL", "ticks", since=DAY, until=until), now=NOW
        )
    finally:
        source.close()
    assert first.bars_stored == 4 and again.bars_stored == 0
    assert len(gateway.historical_requests) == asked, "stored and empty minutes need no request"


def test_bid_ask_ticks_are_paced_as_double_requests(engine: Engine, gateway: FakeIBGateway) -> None:
    for n in range(3000):
        gateway.push_bid_ask("AAPL", E + n // 500, "10.00", f"10.{n % 9 + 1}", "1", "2")
    source = tick_source(gateway, "bid_ask")
    try:
        summary = run_tick_backfill(engine, source, BackfillRequest("AAPL", "ticks", since=DAY), now=NOW)
    finally:
        source.close()
    assert summary.bars_stored == 3000
    stored = ticks_between(engine, "ibkr", "AAPL", DAY, NOW, source="ibkr.BidAsk")
    assert len(stored) == 3000
    assert all(r.what_to_show == "BID_ASK" for r in gateway.historical_requests)  # fixture: no violation


def test_only_trades_or_bid_ask_have_live_twins(gateway: FakeIBGateway) -> None:
    with pytest.raises(UsageError, match="TRADES or BID_ASK"):
        tick_source(gateway, "MIDPOINT")


def test_cli_backfills_ticks_and_refuses_a_bad_kind(gateway: FakeIBGateway, sqlite_url: str) -> None:
    tape(gateway, range(3), 5)
    span = ["--since", DAY.isoformat(), "--until", (DAY + timedelta(minutes=1)).isoformat()]
    result = mdtool(gateway, sqlite_url, "backfill", "ibkr", "AAPL", "ticks", *span)
    assert result.returncode == 0, result.stderr
    assert "15 ticks stored" in result.stdout
    assert query(sqlite_url, "SELECT count(*), min(source) FROM market_data_ticks") == [(15, "ibkr.AllLast")]
    bad = mdtool(
        gateway, sqlite_url, "backfill", "ibkr", "AAPL", "ticks", "--what-to-show", "MIDPOINT", *span
    )
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: IB tick history")
