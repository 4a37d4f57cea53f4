"""Archive files already imported, so a re-run of a trades backfill downloads nothing.

Trades have no grid to find gaps on (ids say what is missing only between two stored trades), so each
imported archive file is recorded with the span of it that was stored (`covered_from` up to the file's
end) and its SHA-256; `--refetch` imports again regardless.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdtool.storage.types import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    now = sa.text("now()") if op.get_bind().dialect.name == "postgresql" else sa.text("CURRENT_TIMESTAMP")
    op.create_table(
        "market_data_archive_files",
        sa.Column("exchange", sa.Text(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("dataset", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("covered_from", UTCDateTime(), nullable=False),
        sa.Column("covered_to", UTCDateTime(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False, server_default=now),
        sa.PrimaryKeyConstraint(
            "exchange", "symbol", "dataset", "file_name", name="market_data_archive_files_pkey"
        ),
    )


def downgrade() -> None:
    op.drop_table("market_data_archive_files")
