"""Bookkeeping for what could not be stored: stream holes left unfilled and refused webhook alerts.

A live stream that cannot fill a hole over REST (the venue refuses, or the request-weight budget stays
exhausted) records the hole here, so `mdtool status` can list it and a later run can retry it; nothing
is silently dropped. A webhook alert that was authenticated but failed validation is kept with the
reason, so a user can see why an alert did not land.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdtool.storage.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    now = sa.text("now()") if op.get_bind().dialect.name == "postgresql" else sa.text("CURRENT_TIMESTAMP")
    op.create_table(
        "market_data_stream_holes",
        sa.Column("exchange", sa.Text(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("start_time", UTCDateTime(), nullable=False),
        sa.Column("end_time", UTCDateTime(), nullable=False),
        sa.Column("first_trade_id", sa.BigInteger(), nullable=True),
        sa.Column("last_trade_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False, server_default=now),
        sa.Column("filled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint(
            "exchange", "symbol", "source", "start_time", name="market_data_stream_holes_pkey"
        ),
    )
    op.create_table(
        "market_data_webhook_rejects",
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False, server_default=now),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("field", sa.Text(), nullable=True),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="market_data_webhook_rejects_pkey"),
    )
    op.create_index(
        "market_data_webhook_rejects_received_at_idx", "market_data_webhook_rejects", ["received_at"]
    )


def downgrade() -> None:
    op.drop_index("market_data_webhook_rejects_received_at_idx", table_name="market_data_webhook_rejects")
    op.drop_table("market_data_webhook_rejects")
    op.drop_table("market_data_stream_holes")
