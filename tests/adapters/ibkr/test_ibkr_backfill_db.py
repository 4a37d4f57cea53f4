"""The shared backfill driver with the IB source, on TimescaleDB and SQLite: exact decimals, resume."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine, text

from mdtool.backfill import BackfillRequest, run_backfill
from tests.adapters.ibkr.conftest import NOW, make_source
from tests.fakes.ib_gateway import FakeIBGateway


def test_backfill_stores_exact_closed_bars_and_resumes(engine: Engine, gateway: FakeIBGateway) -> None:
    source = make_source(gateway)
    try:
        since = datetime(2026, 1, 5, 15, tzinfo=UTC)
        first = run_backfill(engine, source, BackfillRequest("aapl", "1h", since=since), now=NOW)
        again = run_backfill(engine, source, BackfillRequest("AAPL", "1h"), now=NOW)
    finally:
        source.close()
    assert (first.symbol, first.bars_stored) == ("AAPL", 24)  # the 15:00 bar is still open at NOW
    assert again.bars_stored == 0
    with engine.begin() as conn:
        row = conn.execute(
            text(
                "SELECT open, volume FROM market_data_ohlcv WHERE symbol = 'AAPL' ORDER BY timestamp LIMIT 1"
            )
        ).one()
    step = int(since.timestamp()) // 3600
    assert Decimal(row[0]) == Decimal("100") + Decimal(step % 97) / 100
    assert Decimal(row[1]) == 100 + step % 13
