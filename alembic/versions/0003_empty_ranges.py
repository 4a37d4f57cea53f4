"""Remember ranges a venue answered with no bars.

Without it, every re-run of `backfill --since` over a stock's history asked the venue again for each
night, weekend and holiday (they look like gaps), which for IB costs one paced request per gap.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdtool.storage.types import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    now = sa.text("now()") if op.get_bind().dialect.name == "postgresql" else sa.text("CURRENT_TIMESTAMP")
    op.create_table(
        "market_data_empty_ranges",
        sa.Column("exchange", sa.Text(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("interval", sa.Text(), nullable=False),
        sa.Column("range_start", UTCDateTime(), nullable=False),
        sa.Column("range_end", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False, server_default=now),
        sa.PrimaryKeyConstraint(
            "exchange", "symbol", "interval", "range_start", name="market_data_empty_ranges_pkey"
        ),
    )


def downgrade() -> None:
    op.drop_table("market_data_empty_ranges")
