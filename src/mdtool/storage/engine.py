"""Engine creation for PostgreSQL (psycopg 3) and SQLite, and translation of driver errors.

Both URL spellings documented for PostgreSQL (docs/architecture.md) mean psycopg 3, so they are
normalised here once.
Driver exceptions are turned into one-line `DatabaseError`s at this boundary because their default text
spans several lines and includes SQL, which is noise for a user whose database is simply down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy
from sqlalchemy import Engine, event, exc, text

from mdtool.config import validate_database_url
from mdtool.errors import DatabaseError, RejectedDataError

log = logging.getLogger(__name__)


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` become `postgresql+psycopg://`; SQLite URLs pass through."""
    url = validate_database_url(url)
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_engine(url: str, **kwargs: Any) -> Engine:
    """Engine with the settings mdtool relies on (WAL + busy timeout on SQLite, pre-ping on PostgreSQL)."""
    normalized = normalize_url(url)
    if normalized.startswith("sqlite"):
        engine = sqlalchemy.create_engine(normalized, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("connect_args", {"connect_timeout": 5, "application_name": "mdtool"})
    return sqlalchemy.create_engine(normalized, **kwargs)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def describe_error(error: BaseException) -> str:
    """First meaningful line of a driver error, without SQL or the SQLAlchemy background link."""
    original = getattr(error, "orig", None) or error
    message = str(original).strip().splitlines()
    first = next((line.strip() for line in message if line.strip()), type(original).__name__)
    return first.removeprefix("(psycopg.OperationalError) ")


def is_postgres(engine: Engine) -> bool:
    """True when the engine talks to PostgreSQL (COPY, advisory locks and hypertables are available)."""
    return engine.dialect.name == "postgresql"


@contextmanager
def database_errors(action: str) -> Iterator[None]:
    """Re-raise SQLAlchemy/driver failures as `DatabaseError("<action>: <reason>")`."""
    try:
        yield
    except (exc.DataError, exc.IntegrityError) as error:
        raise RejectedDataError(f"{action}: {describe_error(error)}") from error
    except exc.SQLAlchemyError as error:
        raise DatabaseError(f"{action}: {describe_error(error)}") from error


def check_connection(engine: Engine) -> None:
    """Fail fast with a one-line error when the database does not answer."""
    with (
        database_errors(f"cannot reach the database ({safe_url(engine)})"),
        engine.connect() as conn,
    ):
        conn.execute(text("SELECT 1"))


def safe_url(engine: Engine) -> str:
    """The engine URL with its password hidden, for messages and logs."""
    return engine.url.render_as_string(hide_password=True)


def timescaledb_installed(engine: Engine) -> bool:
    """Whether the connected PostgreSQL database has the timescaledb extension created."""
    if not is_postgres(engine):
        return False
    with database_errors("cannot inspect the database"), engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).first()
    return found is not None


def warn_if_plain_postgres(engine: Engine) -> None:
    """Without TimescaleDB say so loudly on every start, never silently (docs/architecture.md, §2)."""
    if is_postgres(engine) and not timescaledb_installed(engine):
        log.warning(
            "TimescaleDB is not installed in this database: tables are plain PostgreSQL tables "
            "(no hypertables, no chunking). Install the extension and re-run `mdtool migrate`."
        )
