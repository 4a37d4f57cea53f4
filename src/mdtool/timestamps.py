"""Parsing of user-given times (`--since`, `--until`): ISO-8601 dates or datetimes, UTC by default."""

from __future__ import annotations

from datetime import UTC, date, datetime

from mdtool.errors import UsageError


def parse_user_time(text: str, option: str = "time") -> datetime:
    """`2024-01-01`, `2024-01-01T12:30`, `2024-01-01 12:30:00+02:00`, `...Z`; no offset means UTC."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option}: {text!r} is not an ISO-8601 date or datetime (e.g. 2024-01-01 or 2024-01-01T12:00Z)"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
