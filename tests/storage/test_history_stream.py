"""History rows aggregated by the database, on TimescaleDB and SQLite, against a Python oracle.

The oracle groups with `intervals.floor_open` (the calendar code backfill uses, written independently of
the SQL) and sums exact Decimals, so any rounding, boundary or first/last mistake in SQL shows up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine

from mdtool.intervals import floor_open
from mdtool.records import Bar, Tick
from mdtool.storage.history_stream import (
    BarSource,
    bar_source,
    bucket_start,
    dividing_intervals,
    open_bars,
    open_ticks,
)
from mdtool.storage.writer import write_bars, write_ticks

SERIES = ("binance", "BTCUSDT")
QUOTES = ("ibkr.BidAsk",)
SUNDAY_EVENING = datetime(2024, 1, 7, 22, 0, tzinfo=UTC)  # the week turns at Monday 00:00 UTC
EVERYTHING = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
INTERVAL_NAMES = {300: "5m", 3600: "1h", 86400: "1d", 604800: "1w"}


def minute_bars(count: int = 240) -> list[Bar]:
    bars = []
    for i in range(count):
        base = Decimal(42000) + Decimal(i % 17) - Decimal(i % 5) / 4
        bars.append(
            Bar(
                *SERIES,
                "1m",
                SUNDAY_EVENING + timedelta(minutes=i),
                base + Decimal("0.01"),
                base + Decimal(i % 7) + Decimal("0.5"),
                base - Decimal(i % 3),
                base + Decimal("0.1") * (i % 4),
                Decimal("0.1") * (i % 9 + 1),  # tenths: a float sum would drift
                trade_count=None if i == 5 else i + 1,
            )
        )
    return bars


def oracle(
    items: Sequence[Any], seconds: int, moment: Callable[[Any], datetime], values: Callable[[Any], tuple]
) -> list[tuple]:
    """Group in Python: (bucket s, open, high, low, close, volume, count, bid volume, ask volume)."""
    interval = INTERVAL_NAMES.get(seconds)
    groups: dict[int, list[tuple]] = {}
    for item in sorted(items, key=moment):
        when = moment(item)
        start = (
            floor_open(interval, when)
            if interval
            else when.replace(microsecond=0) - timedelta(seconds=int(when.timestamp()) % seconds)
        )
        groups.setdefault(int(start.timestamp()), []).append(values(item))
    rows = []
    for start, vals in sorted(groups.items()):
        o, h, lo, c, v, n, bv, av = zip(*vals, strict=True)
        rows.append(
            (start, float(o[0]), float(max(h)), float(min(lo)), float(c[-1]), float(sum(v)), sum(n),
             float(sum(bv)), float(sum(av)))
        )  # fmt: skip
    return rows


def read_all(engine: Engine, opened: Any, chunk: int = 7) -> list[tuple]:
    rows: list[tuple] = []
    with opened as stream:
        while batch := stream.fetch(chunk):
            rows.extend(tuple(row) for row in batch)
    return rows


def bar_values(bar: Bar) -> tuple:
    count = bar.trade_count or 0
    return (bar.open, bar.high, bar.low, bar.close, bar.volume, count, Decimal(0), Decimal(0))


@pytest.mark.parametrize("seconds", [300, 3600, 86400, 604800])
def test_minute_bars_aggregate_exactly_on_utc_boundaries(engine: Engine, seconds: int) -> None:
    bars = minute_bars()
    write_bars(engine, bars)
    source = bar_source(engine, SERIES, seconds, *EVERYTHING, QUOTES)
    assert source == BarSource(seconds, "1m")
    rows = read_all(engine, open_bars(engine, SERIES, source, *EVERYTHING, QUOTES))
    assert rows == oracle(bars, seconds, lambda b: b.timestamp, bar_values)


def test_weeks_start_on_monday_and_days_at_midnight_utc(engine: Engine) -> None:
    write_bars(engine, minute_bars())
    weekly = read_all(engine, open_bars(engine, SERIES, BarSource(604800, "1m"), *EVERYTHING, QUOTES))
    daily = read_all(engine, open_bars(engine, SERIES, BarSource(86400, "1m"), *EVERYTHING, QUOTES))
    monday = datetime(2024, 1, 8, tzinfo=UTC)
    assert [row[0] for row in weekly] == [
        int((monday - timedelta(days=7)).timestamp()),
        int(monday.timestamp()),
    ]
    assert [row[0] for row in daily] == [
        int((monday - timedelta(days=1)).timestamp()),
        int(monday.timestamp()),
    ]
    assert sum(row[6] for row in weekly) == sum(b.trade_count or 0 for b in minute_bars())


def test_stored_interval_is_read_as_it_is(engine: Engine) -> None:
    bars = minute_bars(10)
    write_bars(engine, bars)
    source = bar_source(engine, SERIES, 60, *EVERYTHING, QUOTES)
    assert source is not None and source.exact
    rows = read_all(engine, open_bars(engine, SERIES, source, *EVERYTHING, QUOTES))
    assert rows == [
        (int(b.timestamp.timestamp()), *(float(v) for v in bar_values(b)[:5]), b.trade_count or 0, 0.0, 0.0)
        for b in bars
    ]


def test_source_prefers_the_interval_itself_then_the_finest_dividing_one(engine: Engine) -> None:
    write_bars(engine, minute_bars(60))
    hourly = Bar(*SERIES, "1h", SUNDAY_EVENING, "1", "2", "0.5", "1.5", "10")
    five = Bar(*SERIES, "5m", SUNDAY_EVENING, "1", "2", "0.5", "1.5", "10")
    write_bars(engine, [hourly, five])
    assert bar_source(engine, SERIES, 3600, *EVERYTHING, QUOTES) == BarSource(3600, "1h")
    assert bar_source(engine, SERIES, 7200, *EVERYTHING, QUOTES) == BarSource(7200, "1m")
    assert bar_source(engine, SERIES, 2, *EVERYTHING, QUOTES) is None  # no 1s bars, no ticks
    assert dividing_intervals(604800)[:2] == ["1w", "1s"]


def trades_and_quotes() -> list[Tick]:
    start = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
    items = []
    for i in range(300):
        moment = start + timedelta(microseconds=i * 370_001)  # spans ~111 s, odd microseconds
        side = ("buy", "sell", None)[i % 3]
        price = Decimal("100") + Decimal(i % 13) / 100
        size = None if i % 11 == 0 else Decimal("0.001") * (i % 5 + 1)
        items.append(Tick(*SERIES, moment, "trade", str(i), price, size, side))
        if i % 10 == 0:  # a quote at the same moment must not move a bar
            quote = {"bid": "1", "ask": "999", "bid_size": "5", "ask_size": "5"}
            items.append(Tick(*SERIES, moment, "ibkr.BidAsk", f"q{i}", Decimal(1), Decimal(5), None, quote))
    return items


def tick_values(tick: Tick) -> tuple:
    size = tick.size or Decimal(0)
    return (
        tick.price, tick.price, tick.price, tick.price, size, 1,
        size if tick.side == "sell" else Decimal(0), size if tick.side == "buy" else Decimal(0),
    )  # fmt: skip


@pytest.mark.parametrize("seconds", [1, 2, 10, 60])
def test_ticks_become_bars_when_no_bars_are_stored(engine: Engine, seconds: int) -> None:
    items = trades_and_quotes()
    write_ticks(engine, items)
    source = bar_source(engine, SERIES, seconds, *EVERYTHING, QUOTES)
    assert source == BarSource(seconds, None)
    rows = read_all(engine, open_bars(engine, SERIES, source, *EVERYTHING, QUOTES))
    trades = [t for t in items if t.source == "trade"]
    assert rows == oracle(trades, seconds, lambda t: t.timestamp, tick_values)


def test_tick_rows_are_trades_with_exact_times(engine: Engine) -> None:
    items = trades_and_quotes()
    write_ticks(engine, items)
    rows = read_all(engine, open_ticks(engine, SERIES, *EVERYTHING, QUOTES), chunk=64)
    trades = sorted((t for t in items if t.source == "trade"), key=lambda t: (t.timestamp, t.trade_id))
    sides = {"buy": 2, "sell": 1, None: 0}
    assert rows == [
        (t.timestamp.timestamp(), sides[t.side], float(t.price), float(t.size or 0)) for t in trades
    ]


def test_range_bounds_are_start_inclusive_end_exclusive(engine: Engine) -> None:
    bars = minute_bars(30)
    write_bars(engine, bars)
    start, end = bars[3].timestamp, bars[9].timestamp
    rows = read_all(engine, open_bars(engine, SERIES, BarSource(60, "1m"), start, end, QUOTES))
    assert [r[0] for r in rows] == [int(b.timestamp.timestamp()) for b in bars[3:9]]


def test_bucket_start_floors_to_the_grid() -> None:
    moment = datetime(2024, 1, 10, 15, 37, 12, tzinfo=UTC)  # a Wednesday
    assert bucket_start(604800, moment) == datetime(2024, 1, 8, tzinfo=UTC)
    assert bucket_start(86400, moment) == datetime(2024, 1, 10, tzinfo=UTC)
    assert bucket_start(300, moment) == datetime(2024, 1, 10, 15, 35, tzinfo=UTC)
    assert bucket_start(259200, datetime(1970, 1, 4, tzinfo=UTC)) == datetime(1970, 1, 4, tzinfo=UTC)
