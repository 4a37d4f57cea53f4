"""Column types that keep values exact on every backend.

SQLite has no decimal or timezone-aware timestamp type: SQLAlchemy's defaults would store prices as
floats and drop the zone. These decorators store decimals as plain text and timestamps as fixed-width
UTC text (so text order is time order) on SQLite, and use native `numeric`/`timestamptz` on PostgreSQL.
The SQLite text forms are defined once, in `storage/sqlite_text.py`, which the bulk writer shares.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

from mdtool.records import normalize_decimal
from mdtool.storage.sqlite_text import decimal_text, time_text


class ExactDecimal(TypeDecorator[Decimal]):
    """`numeric` on PostgreSQL, canonical decimal text on SQLite."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = normalize_decimal(Decimal(value))
        return decimal_text(number) if dialect.name == "sqlite" else number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return normalize_decimal(Decimal(value))


class UTCDateTime(TypeDecorator[datetime]):
    """`timestamptz` on PostgreSQL, microsecond UTC text on SQLite; always returns aware UTC."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"timestamps must be timezone-aware datetimes, got {value!r}")
        return time_text(value) if dialect.name == "sqlite" else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
