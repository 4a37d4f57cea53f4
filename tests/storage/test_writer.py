"""Writer semantics on real TimescaleDB and real SQLite (each test runs on both)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select

from mdtool.records import Bar, Tick
from mdtool.storage.engine import create_engine
from mdtool.storage.queries import bars_between, ticks_between
from mdtool.storage.schema import ohlcv, ticks
from mdtool.storage.writer import RecordWriter, write_bars, write_ticks

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_bar(minute: int, close: str = "42000.01000000") -> Bar:
    return Bar("binance", "BTCUSDT", "1m", T0 + timedelta(minutes=minute), "42000.01000000",
               "42010", "41990", close, "12.50000000", "525000.1", 17)  # fmt: skip


def make_tick(trade_id: int, millis: int = 0, price: str = "42000.01000000") -> Tick:
    return Tick("binance", "BTCUSDT", T0 + timedelta(milliseconds=millis, microseconds=7), "trade",
                str(trade_id), price, "0.00100000", "sell", {"t": trade_id})  # fmt: skip


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def ingested(engine: Engine) -> list[datetime]:
    with engine.connect() as conn:
        return list(conn.execute(select(ohlcv.c.ingested_at).order_by(ohlcv.c.timestamp)).scalars())


def test_two_trades_in_the_same_millisecond_are_both_kept(engine: Engine) -> None:
    assert write_ticks(engine, [make_tick(1), make_tick(2)]) == 2
    stored = ticks_between(engine, "binance", "BTCUSDT", T0, T0 + timedelta(seconds=1))
    assert [t.trade_id for t in stored] == ["1", "2"]
    assert stored[0].timestamp == T0 + timedelta(microseconds=7)


def test_writing_the_same_batch_twice_changes_nothing(engine: Engine) -> None:
    bars = [make_bar(i) for i in range(50)]
    batch = [make_tick(i, i) for i in range(50)]
    assert write_bars(engine, bars) == 50
    assert write_ticks(engine, batch) == 50
    before = ingested(engine)
    assert write_bars(engine, bars) == 0
    assert write_ticks(engine, batch) == 0
    assert count(engine, ohlcv) == 50
    assert count(engine, ticks) == 50
    assert ingested(engine) == before


def test_partly_overlapping_batches_store_only_the_new_rows(engine: Engine) -> None:
    assert write_ticks(engine, [make_tick(i, i) for i in range(0, 60)]) == 60
    assert write_ticks(engine, [make_tick(i, i) for i in range(30, 100)]) == 40
    assert write_ticks(engine, [make_tick(i, i) for i in range(100, 120)]) == 20
    assert count(engine, ticks) == 120


def test_a_corrected_bar_replaces_the_stored_one(engine: Engine) -> None:
    write_bars(engine, [make_bar(0), make_bar(1)])
    assert write_bars(engine, [make_bar(0), make_bar(1, close="42005.5")]) == 1
    stored = bars_between(engine, "binance", "BTCUSDT", "1m", T0, T0 + timedelta(minutes=2))
    assert [b.close for b in stored] == [Decimal("42000.01"), Decimal("42005.5")]


def test_duplicates_inside_one_batch_keep_the_last_bar_and_first_tick(engine: Engine) -> None:
    assert write_bars(engine, [make_bar(0), make_bar(0, close="42001")]) == 1
    assert bars_between(engine, "binance", "BTCUSDT", "1m", T0, T0 + timedelta(minutes=1))[0].close == 42001
    assert write_ticks(engine, [make_tick(1, price="1"), make_tick(1, price="2")]) == 1


def test_decimals_round_trip_exactly(engine: Engine) -> None:
    write_bars(engine, [make_bar(0)])
    write_ticks(engine, [make_tick(1, price="0.00000001")])
    stored_bar = bars_between(engine, "binance", "BTCUSDT", "1m", T0, T0 + timedelta(minutes=1))[0]
    assert stored_bar == make_bar(0)
    assert repr(stored_bar.open) == "Decimal('42000.01')"
    assert stored_bar.timestamp.tzinfo is UTC
    stored_tick = ticks_between(engine, "binance", "BTCUSDT", T0, T0 + timedelta(seconds=1))[0]
    assert stored_tick.price == Decimal("0.00000001")
    assert stored_tick.size == Decimal("0.001")
    assert stored_tick.payload == {"t": 1}


def test_a_bar_gaining_or_losing_its_quote_volume_is_updated(engine: Engine) -> None:
    """The update compares values null-safely: NULL to a value and back are both changes."""
    without = Bar("binance", "BTCUSDT", "1m", T0, "1", "2", "0.5", "1", "3")
    with_quote = Bar("binance", "BTCUSDT", "1m", T0, "1", "2", "0.5", "1", "3", "4", 5)
    assert write_bars(engine, [without]) == 1
    assert write_bars(engine, [with_quote]) == 1
    assert write_bars(engine, [with_quote]) == 0
    assert write_bars(engine, [without]) == 1
    assert bars_between(engine, "binance", "BTCUSDT", "1m", T0, T0 + timedelta(minutes=1)) == [without]


def test_tiny_numbers_odd_names_and_early_years_round_trip(engine: Engine) -> None:
    """Values whose short text is an exponent (1E-8), a name COPY text must escape, a year below 1000."""
    early = datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=UTC)
    bars = [
        Bar("binance", "BTCUSDT", "1m", T0, "0.00000002", "0.00000003", "0.00000001", "0.00000002", "0"),
        Bar("binance", "odd\tname\\", "1m", T0, "1", "1", "1", "1", "1"),
        Bar("binance", "BTCUSDT", "1m", early, "1", "1", "1", "1", "0.00000001", "0.0000005"),
    ]
    assert write_bars(engine, bars) == 3
    assert write_bars(engine, bars) == 0
    assert bars_between(engine, "binance", "BTCUSDT", "1m", T0, T0 + timedelta(minutes=1)) == bars[:1]
    assert bars_between(engine, "binance", "odd\tname\\", "1m", T0, T0 + timedelta(minutes=1)) == bars[1:2]
    assert bars_between(engine, "binance", "BTCUSDT", "1m", early, T0) == bars[2:]
    tick = Tick("binance", "BTCUSDT", early, "trade", "1", "0.00000001", "0.000000005")
    assert write_ticks(engine, [tick]) == 1
    assert ticks_between(engine, "binance", "BTCUSDT", early, T0) == [tick]


def test_ticks_without_payload_round_trip_whatever_their_values(engine: Engine) -> None:
    """The stream's ticks (no payload) go to PostgreSQL as COPY text; nulls, tiny numbers, early years,
    microseconds and names COPY must escape all come back as written."""
    early = datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=UTC)
    plain = [
        Tick("binance", "BTCUSDT", T0 + timedelta(microseconds=i), "trade", str(i), "42000.01", "0.5", "buy")
        for i in range(3)
    ]
    unusual = [
        Tick("binance", "BTCUSDT", early, "trade", "e", "0.00000001", None, None),
        Tick("binance", "BTCUSDT", T0 + timedelta(hours=5), "trade", "big", "123456789012345678.5", "0"),
    ]
    escaped = [Tick("binance", "odd\tname", T0, "tr\\ade", "id\t\n\r", "1", "1", "sell")]
    empty_payload = [Tick("binance", "EMPTY", T0, "trade", "1", "1", "1", "buy", {})]
    for batch in (plain, unusual, escaped, empty_payload):
        assert write_ticks(engine, batch) == len(batch)
        assert write_ticks(engine, batch) == 0
    assert ticks_between(engine, "binance", "BTCUSDT", early, T0 + timedelta(days=1)) == [
        unusual[0],
        *plain,
        unusual[1],
    ]
    assert ticks_between(engine, "binance", "odd\tname", T0, T0 + timedelta(seconds=1)) == escaped
    [stored_empty] = ticks_between(engine, "binance", "EMPTY", T0, T0 + timedelta(seconds=1))
    assert stored_empty.payload == {}, "an empty payload is a payload, not NULL"


def test_a_record_writer_recovers_from_collisions(engine: Engine) -> None:
    """After a colliding batch the writer merges (PostgreSQL remembers the collision); later fresh batches
    are stored in full either way."""
    writer = RecordWriter(engine)
    assert writer.write_ticks([make_tick(i, i) for i in range(0, 20)]) == 20
    assert writer.write_ticks([make_tick(i, i) for i in range(10, 30)]) == 10
    assert writer.write_ticks([make_tick(i, i) for i in range(30, 40)]) == 10
    assert writer.write_ticks([make_tick(i, i) for i in range(40, 50)]) == 10
    assert writer.write_bars([make_bar(i) for i in range(5)]) == 5
    assert writer.write_bars([make_bar(i) for i in range(3, 8)]) == 3
    assert writer.write_bars([make_bar(i) for i in range(8, 10)]) == 2
    assert count(engine, ticks) == 50
    assert count(engine, ohlcv) == 10


def test_sqlite_stores_the_documented_text(sqlite_url: str) -> None:
    """SQLite has no decimal or zoned time: decimals as plain text, times as fixed-width UTC text, and a
    missing payload as JSON null, exactly as the column types write them (queries depend on it)."""
    engine = create_engine(sqlite_url)
    write_bars(engine, [make_bar(0)])
    write_ticks(
        engine, [make_tick(1, price="0.00000001"), Tick("binance", "BTCUSDT", T0, "trade", "2", "100")]
    )
    with engine.connect() as conn:
        bar_row = conn.exec_driver_sql(
            "SELECT timestamp, open, low, volume, trade_count FROM market_data_ohlcv"
        ).one()
        tick_rows = conn.exec_driver_sql(
            "SELECT timestamp, price, size, payload FROM market_data_ticks ORDER BY trade_id"
        ).all()
        modes = (
            conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
            conn.exec_driver_sql("PRAGMA synchronous").scalar(),
        )
    engine.dispose()
    assert tuple(bar_row) == ("2024-01-01 00:00:00.000000", "42000.01", "41990", "12.5", 17)
    assert [tuple(r) for r in tick_rows] == [
        ("2024-01-01 00:00:00.000007", "0.00000001", "0.001", '{"t": 1}'),
        ("2024-01-01 00:00:00.000000", "100", None, "null"),
    ]
    assert modes == ("wal", 1)  # WAL, synchronous=NORMAL


def test_bars_of_several_series_in_one_batch_are_all_kept(engine: Engine) -> None:
    """Uniqueness is judged by the whole key: ascending times across series, and one time in two series."""
    eth = [
        Bar("binance", "ETHUSDT", "1m", b.timestamp, "1", "1", "1", "1", "1")
        for b in (make_bar(0), make_bar(2))
    ]
    assert write_bars(engine, [make_bar(0), eth[0], make_bar(1), eth[1], make_bar(3)]) == 5
    assert write_bars(engine, [eth[0], make_bar(0, close="42010")]) == 1
    assert count(engine, ohlcv) == 5


def test_batches_longer_than_one_statement_count_every_row_once(engine: Engine) -> None:
    """SQLite sends a hundred rows to a statement and the rest one by one; counts and first/last-copy
    rules hold across those seams as within them (and on PostgreSQL, which COPYs the batch)."""
    stored_ticks = [make_tick(i, i) for i in range(0, 250, 7)]
    assert write_ticks(engine, stored_ticks) == len(stored_ticks)
    batch = [make_tick(i, i) for i in range(250)]
    for first, position in (
        (3, 50),
        (99, 120),
        (150, 199),
        (240, 245),
    ):  # within a statement, across, in the rest
        batch.insert(position, make_tick(first, first, price="1"))
    assert write_ticks(engine, batch) == 250 - len(stored_ticks)
    assert count(engine, ticks) == 250
    stored = ticks_between(engine, "binance", "BTCUSDT", T0, T0 + timedelta(seconds=1))
    assert {t.price for t in stored} == {Decimal("42000.01")}, "a duplicate keeps the first copy"

    assert write_bars(engine, [make_bar(i) for i in range(150)]) == 150
    corrected = [make_bar(i, close="42005.5") if 60 <= i < 130 else make_bar(i) for i in range(305)]
    assert write_bars(engine, corrected) == 70 + 155
    assert write_bars(engine, corrected) == 0
    closes = [b.close for b in bars_between(engine, "binance", "BTCUSDT", "1m", T0, T0 + timedelta(days=1))]
    assert closes == [Decimal("42005.5") if 60 <= i < 130 else Decimal("42000.01") for i in range(305)]
