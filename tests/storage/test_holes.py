"""The stream-holes ledger: idempotent records, listing what is unfilled, marking filled."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from mdtool.sources import StreamHole
from mdtool.storage.holes import DatabaseHoles, mark_filled, record_holes, unfilled_holes
from mdtool.storage.schema import stream_holes

T0 = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
T1 = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)


def hole(symbol: str = "BTCUSDT", first: int = 11, last: int = 20, reason: str = "refused") -> StreamHole:
    return StreamHole("binance", symbol, "trade", T0, T1, first, last, reason)


def rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(stream_holes)).scalar_one())


def test_recording_twice_keeps_one_row_with_the_latest_range(engine: Engine) -> None:
    record_holes(engine, [hole()])
    record_holes(engine, [hole(first=15, reason="budget exhausted")])
    assert rows(engine) == 1
    assert unfilled_holes(engine, "binance", "trade") == [hole(first=15, reason="budget exhausted")]


def test_filled_holes_are_no_longer_listed_until_recorded_again(engine: Engine) -> None:
    ledger = DatabaseHoles(engine)
    ledger.record(hole())
    ledger.record(hole("ETHUSDT"))
    ledger.filled(hole())
    assert ledger.unfilled("binance", "trade", ["BTCUSDT", "ETHUSDT"]) == [hole("ETHUSDT")]
    assert ledger.unfilled("binance", "trade", ["BTCUSDT"]) == []
    record_holes(engine, [hole()])  # the retry failed after all
    assert [h.symbol for h in unfilled_holes(engine, "binance", "trade")] == ["BTCUSDT", "ETHUSDT"]


def test_marking_an_unknown_hole_is_harmless(engine: Engine) -> None:
    mark_filled(engine, hole())
    assert rows(engine) == 0
