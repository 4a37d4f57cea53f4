"""Column types that keep values exact on every backend.

SQLite has no decimal or timezone-aware timestamp type: SQLAlchemy's defaults would store prices as
floats and drop the zone. These decorators store decimals as plain text and timestamps as fixed-width
UTC text (so text order is time order) on SQLite, and use native `numeric`/`timestamptz` on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

from mdtool.records import normalize_decimal

_SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


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
        return format(number, "f") if dialect.name == "sqlite" else number

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
        value = value.astimezone(UTC)
        return value.strftime(_SQLITE_TIME_FORMAT) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
