"""TimescaleDB setup: the extension and the two hypertables.

Chunk intervals: ticks arrive at up to tens of thousands per second per busy symbol, so a chunk spans
1 day (a day of a busy market stays well under the ~25 % of memory TimescaleDB advises for the newest
chunk's indexes). Bars are far sparser (1,440 1m bars per symbol per day), so a chunk spans 7 days:
large enough that range scans touch few chunks, small enough that old chunks compress and drop cleanly.

No time-only index is created (TimescaleDB's default): every query names its series, which the primary
key serves, so that index only made each insert dearer (revision 0006 drops it where it exists).

This is called from the first Alembic revision and again after every `mdtool migrate`, so a database
that was migrated before the extension was installed is converted (with its data) once it is.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, text

from mdtool.storage.schema import OHLCV_TABLE, TICKS_TABLE

log = logging.getLogger(__name__)

CHUNK_INTERVALS = {OHLCV_TABLE: "7 days", TICKS_TABLE: "1 day"}
PLAIN_TABLES_WARNING = (
    "TimescaleDB is not available in this PostgreSQL server: created plain tables instead of "
    "hypertables. Install it (scripts/install-timescaledb.sh), add timescaledb to "
    "shared_preload_libraries, and re-run `mdtool migrate` to convert them."
)


def ensure_hypertables(conn: Connection) -> bool:
    """Create the extension and hypertables where possible; returns False (and warns) otherwise."""
    if conn.dialect.name != "postgresql":
        return False
    available = conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")).first()
    if available is None:
        log.warning(PLAIN_TABLES_WARNING)
        return False
    preloaded = conn.execute(text("SELECT current_setting('shared_preload_libraries')")).scalar_one()
    if "timescaledb" not in str(preloaded):
        # CREATE EXTENSION would fail (and may end the session) when the library is not preloaded.
        log.warning("%s (timescaledb is not in shared_preload_libraries)", PLAIN_TABLES_WARNING)
        return False
    conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
    for table, chunk in CHUNK_INTERVALS.items():
        conn.execute(
            text(
                "SELECT create_hypertable(CAST(:table AS regclass), 'timestamp', "
                "chunk_time_interval => CAST(:chunk AS interval), if_not_exists => TRUE, "
                "migrate_data => TRUE, create_default_indexes => FALSE)"
            ),
            {"table": table, "chunk": chunk},
        )
    return True


def hypertables(conn: Connection) -> set[str]:
    """Names of the hypertables in the current database (empty without TimescaleDB)."""
    if conn.dialect.name != "postgresql":
        return set()
    installed = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).first()
    if installed is None:
        return set()
    rows = conn.execute(text("SELECT hypertable_name FROM timescaledb_information.hypertables"))
    return {row[0] for row in rows}
