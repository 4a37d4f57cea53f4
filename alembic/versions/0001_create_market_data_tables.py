"""Create market_data_ohlcv and market_data_ticks (hypertables on TimescaleDB).

The ticks key includes `trade_id`: the seed's key `(exchange, symbol, timestamp, source)` silently
dropped every trade after the first within one millisecond.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdtool.storage.schema import payload_type
from mdtool.storage.timescale import ensure_hypertables
from mdtool.storage.types import ExactDecimal, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    now = sa.text("now()") if op.get_bind().dialect.name == "postgresql" else sa.text("CURRENT_TIMESTAMP")
    op.create_table(
        "market_data_ohlcv",
        sa.Column("exchange", sa.Text(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("interval", sa.Text(), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("open", ExactDecimal(), nullable=False),
        sa.Column("high", ExactDecimal(), nullable=False),
        sa.Column("low", ExactDecimal(), nullable=False),
        sa.Column("close", ExactDecimal(), nullable=False),
        sa.Column("volume", ExactDecimal(), nullable=False),
        sa.Column("quote_volume", ExactDecimal(), nullable=True),
        sa.Column("trade_count", sa.BigInteger(), nullable=True),
        sa.Column("ingested_at", UTCDateTime(), nullable=False, server_default=now),
        sa.PrimaryKeyConstraint("exchange", "symbol", "interval", "timestamp", name="market_data_ohlcv_pkey"),
    )
    op.create_table(
        "market_data_ticks",
        sa.Column("exchange", sa.Text(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("trade_id", sa.Text(), nullable=False),
        sa.Column("price", ExactDecimal(), nullable=False),
        sa.Column("size", ExactDecimal(), nullable=True),
        sa.Column("side", sa.Text(), nullable=True),
        sa.Column("payload", payload_type, nullable=True),
        sa.Column("ingested_at", UTCDateTime(), nullable=False, server_default=now),
        sa.PrimaryKeyConstraint(
            "exchange", "symbol", "timestamp", "source", "trade_id", name="market_data_ticks_pkey"
        ),
    )
    ensure_hypertables(op.get_bind())


def downgrade() -> None:
    op.drop_table("market_data_ticks")
    op.drop_table("market_data_ohlcv")
