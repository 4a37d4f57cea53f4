"""Drop TimescaleDB's default time-only index on the two hypertables.

`create_hypertable` adds an index on `timestamp DESC` unless told not to. Every query mdtool makes
names its series (exchange and symbol first), which the primary key serves, and TimescaleDB excludes
chunks by time without an index; the extra index only cost every inserted row a second b-tree
insert: about 2 of the server's 18 microseconds per tick stored. `storage/timescale.py` no longer
creates it for new hypertables.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("market_data_ohlcv", "market_data_ticks")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f'DROP INDEX IF EXISTS "{table}_timestamp_idx"')


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f'CREATE INDEX IF NOT EXISTS "{table}_timestamp_idx" ON "{table}" ("timestamp" DESC)')
