"""`mdtool migrate`: bring the schema to the newest revision."""

from __future__ import annotations

from mdtool.cli.console import stdout
from mdtool.config import load_settings
from mdtool.migrate import upgrade
from mdtool.storage.engine import create_engine, warn_if_plain_postgres


def migrate() -> None:
    """Create or upgrade the schema to the newest revision (idempotent; safe to run on every deploy)."""
    settings = load_settings()
    revision = upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    warn_if_plain_postgres(engine)
    engine.dispose()
    stdout.print(f"schema at revision {revision}")
