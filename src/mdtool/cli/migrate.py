"""`mdtool migrate`: bring the schema to the newest revision.

Heavy modules (alembic, the database) are imported when the command runs, so `--help` stays instant.
"""

from __future__ import annotations

from mdtool.cli.console import stdout
from mdtool.config import load_settings


def migrate() -> None:
    """Create or upgrade the schema to the newest revision (idempotent; safe to run on every deploy)."""
    from mdtool.migrate import upgrade
    from mdtool.storage.engine import create_engine, warn_if_plain_postgres

    settings = load_settings()
    revision = upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    warn_if_plain_postgres(engine)
    engine.dispose()
    stdout.print(f"schema at revision {revision}")
