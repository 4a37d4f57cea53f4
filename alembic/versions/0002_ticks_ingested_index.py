"""Index ticks by (exchange, symbol, ingested_at) for the DTC live push.

`mdtool dtc-push` finds newly committed ticks of a series by `ingested_at` every ~100 ms; without this
index each poll reads the whole series (about 90 ms for a million ticks, growing with the table), with
it a poll is an index range scan of a few rows (1-2 ms).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_market_data_ticks_series_ingested",
        "market_data_ticks",
        ["exchange", "symbol", "ingested_at"],
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_market_data_ticks_series_ingested", table_name="market_data_ticks")
