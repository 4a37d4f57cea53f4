"""Authenticated alerts the service refused, kept in `market_data_webhook_rejects`.

A TradingView alert whose template is broken is answered 400, but TradingView shows the sender
nothing of the answer; the row is how the user finds out why an alert did not land (status, reason,
field, content type and the body as received). Only authenticated requests get here: storing whatever
an anonymous client posts would let anyone fill the table. The body is stored as text (invalid UTF-8
replaced, NUL characters, which PostgreSQL `text` refuses, replaced too); it is at most the body limit
long because a larger body is refused before it is read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite

from mdtool.storage.engine import database_errors, is_postgres
from mdtool.storage.schema import webhook_rejects

MAX_TEXT = 1_000


@dataclass(frozen=True)
class Reject:
    """One row of `market_data_webhook_rejects`."""

    request_id: str
    received_at: datetime
    status_code: int
    reason: str
    field: str | None
    content_type: str | None
    body: str


def body_text(body: bytes) -> str:
    """The body as storable text: invalid UTF-8 and NUL characters become U+FFFD."""
    return body.decode("utf-8", "replace").replace("\x00", "\ufffd")


def store_reject(engine: Engine, reject: Reject) -> bool:
    """Insert the row (a repeated request id is kept once); True when it was new.

    Raises `DatabaseError` when the database cannot take it: the caller then answers 503 so the
    sender retries instead of the refusal going unrecorded.
    """
    row = asdict(reject)
    row["reason"] = body_text(reject.reason.encode())[:MAX_TEXT]
    if reject.content_type is not None:
        row["content_type"] = body_text(reject.content_type.encode())[:MAX_TEXT]
    dialect = postgresql if is_postgres(engine) else sqlite
    statement = dialect.insert(webhook_rejects).values(row).on_conflict_do_nothing()
    with database_errors("cannot record the refused alert"), engine.begin() as conn:
        return conn.execute(statement).rowcount == 1
