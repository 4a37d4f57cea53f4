"""SQLAlchemy Core tables as docs/architecture.md (§2) describes them; the Alembic revisions create them."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, MetaData, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from mdtool.storage.types import ExactDecimal, UTCDateTime

OHLCV_TABLE = "market_data_ohlcv"
TICKS_TABLE = "market_data_ticks"
EMPTY_RANGES_TABLE = "market_data_empty_ranges"
STREAM_HOLES_TABLE = "market_data_stream_holes"
WEBHOOK_REJECTS_TABLE = "market_data_webhook_rejects"
ARCHIVE_FILES_TABLE = "market_data_archive_files"
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

# Stream holes that could not be filled (the venue refused, or the request budget stayed exhausted):
# kept so they can be listed and retried; `filled_at` is set once a later fill succeeds. The span is
# between the last stored event before the hole and the first after it; trade ids where the venue has them.
stream_holes = Table(
    STREAM_HOLES_TABLE,
    metadata,
    Column("exchange", Text, primary_key=True),
    Column("symbol", Text, primary_key=True),
    Column("source", Text, primary_key=True),
    Column("start_time", UTCDateTime, primary_key=True),
    Column("end_time", UTCDateTime, nullable=False),
    Column("first_trade_id", BigInteger, nullable=True),
    Column("last_trade_id", BigInteger, nullable=True),
    Column("reason", Text, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
    Column("filled_at", UTCDateTime, nullable=True),
)

# Webhook alerts that were authenticated but refused (validation failed): the body is kept, up to the
# size limit, with the reason, so a user can see why an alert did not land. Never unauthenticated ones.
webhook_rejects = Table(
    WEBHOOK_REJECTS_TABLE,
    metadata,
    Column("request_id", Text, primary_key=True),
    Column("received_at", UTCDateTime, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
    Column("status_code", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("field", Text, nullable=True),
    Column("content_type", Text, nullable=True),
    Column("body", Text, nullable=False),
    Index("market_data_webhook_rejects_received_at_idx", "received_at"),
)

# Archive files already imported (trades): a re-run skips a file whose stored span covers what is asked
# for. `covered_from` is where the import started inside the file (a --since in mid-file), `covered_to`
# the file's end; `sha256` tells a re-uploaded file apart.
archive_files = Table(
    ARCHIVE_FILES_TABLE,
    metadata,
    Column("exchange", Text, primary_key=True),
    Column("symbol", Text, primary_key=True),
    Column("dataset", Text, primary_key=True),
    Column("file_name", Text, primary_key=True),
    Column("covered_from", UTCDateTime, nullable=False),
    Column("covered_to", UTCDateTime, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("imported_at", UTCDateTime, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
)
