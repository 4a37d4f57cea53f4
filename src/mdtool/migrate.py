"""Schema migrations through Alembic, from a checkout or from an installed wheel.

The wheel ships the repository's `alembic/` directory as `mdtool/migrations`; an editable install or
a checkout uses `alembic/` at the repository root. Both are the same scripts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from mdtool.errors import MdtoolError
from mdtool.storage.engine import check_connection, create_engine, database_errors, safe_url
from mdtool.storage.timescale import ensure_hypertables

log = logging.getLogger(__name__)


def migrations_dir() -> Path:
    """Where the Alembic scripts are: inside the package when installed, else the repository."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "migrations", package_dir.parents[1] / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise MdtoolError("the migration scripts are missing from this installation of mdtool")


def alembic_config(database_url: str) -> Config:
    """Alembic config that needs no alembic.ini and never reconfigures the caller's logging."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def head_revision() -> str:
    """The newest revision the installed scripts know."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:
        raise MdtoolError("the migration scripts define no revision")
    return head


def current_revision(engine: Engine) -> str | None:
    """Revision the database is at (None when it was never migrated)."""
    with database_errors(f"cannot read the schema version of {safe_url(engine)}"), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(database_url: str) -> str:
    """Upgrade to head (idempotent) and convert plain tables to hypertables where TimescaleDB now exists."""
    engine = create_engine(database_url)
    try:
        check_connection(engine)
        before = current_revision(engine)
        with database_errors(f"migration of {safe_url(engine)} failed"):
            command.upgrade(alembic_config(database_url), "head")
            with engine.begin() as conn:
                ensure_hypertables(conn)
        after = current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        log.info("schema already at revision %s", after)
    else:
        log.info("schema upgraded from %s to %s", before or "empty", after)
    return after or ""


def ensure_schema(engine: Engine) -> None:
    """Make sure the tables exist before a command writes.

    The embedded SQLite default is migrated on first use, so the quick start is one command; a server
    database is never changed behind the operator's back: it gets a clear error pointing at `migrate`.
    """
    check_connection(engine)
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if engine.dialect.name == "sqlite":
        log.info("migrating %s to schema revision %s", safe_url(engine), head)
        upgrade(engine.url.render_as_string(hide_password=False))
        return
    raise MdtoolError(
        f"the database schema is at revision {current or 'none'}, not {head}: run `mdtool migrate` first"
    )
