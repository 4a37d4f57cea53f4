"""SQLAlchemy Core tables, exactly as DESIGN.md §3 fixes them (the Alembic revisions create them)."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, MetaData, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from mdtool.storage.types import ExactDecimal, UTCDateTime

OHLCV_TABLE = "market_data_ohlcv"
TICKS_TABLE = "market_data_ticks"
EMPTY_RANGES_TABLE = "market_data_empty_ranges"
BAR_KEY = ("exchange", "symbol", "interval", "timestamp")
TICK_KEY = ("exchange", "symbol", "timestamp", "source", "trade_id")
BAR_VALUES = ("open", "high", "low", "close", "volume", "quote_volume", "trade_count")
TICK_VALUES = ("price", "size", "side", "payload")

metadata = MetaData()

payload_type = JSON().with_variant(JSONB(), "postgresql")

ohlcv = Table(
    OHLCV_TABLE,
    metadata,
    Column("exchange", Text, primary_key=True),
    Column("symbol", Text, primary_key=True),
    Column("interval", Text, primary_key=True),
    Column("timestamp", UTCDateTime, primary_key=True),
    Column("open", ExactDecimal, nullable=False),
    Column("high", ExactDecimal, nullable=False),
    Column("low", ExactDecimal, nullable=False),
    Column("close", ExactDecimal, nullable=False),
    Column("volume", ExactDecimal, nullable=False),
    Column("quote_volume", ExactDecimal, nullable=True),
    Column("trade_count", BigInteger, nullable=True),
    Column("ingested_at", UTCDateTime, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
)

ticks = Table(
    TICKS_TABLE,
    metadata,
    Column("exchange", Text, primary_key=True),
    Column("symbol", Text, primary_key=True),
    Column("timestamp", UTCDateTime, primary_key=True),
    Column("source", Text, primary_key=True),
    Column("trade_id", Text, primary_key=True),
    Column("price", ExactDecimal, nullable=False),
    Column("size", ExactDecimal, nullable=True),
    Column("side", Text, nullable=True),
    Column("payload", payload_type, nullable=True),
    Column("ingested_at", UTCDateTime, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
)

# Ranges a venue answered with no bars (nights, weekends, outages, before listing): remembered so that a
# re-run over the same span does not ask the venue again. Bars are never stored here, only absences.
empty_ranges = Table(
    EMPTY_RANGES_TABLE,
    metadata,
    Column("exchange", Text, primary_key=True),
    Column("symbol", Text, primary_key=True),
    Column("interval", Text, primary_key=True),
    Column("range_start", UTCDateTime, primary_key=True),
    Column("range_end", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
)
