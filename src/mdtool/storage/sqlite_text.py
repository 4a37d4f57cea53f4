"""How SQLite stores what it has no type for: decimals as text, timestamps as fixed-width UTC text.

One definition, used both by the column types (`storage/types.py`, every query) and by the bulk
writer's fast path (`storage/sqlite_writes.py`), so a value written by one is found by the other.
Timestamps are `YYYY-MM-DD HH:MM:SS.ffffff` with a four-digit year, so text order is time order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

TIME_TEXT_WIDTH = 26
"""Length of `YYYY-MM-DD HH:MM:SS.ffffff`."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def time_text(moment: datetime) -> str:
    """Fixed-width text of an aware datetime, in UTC.

    `isoformat` always pads the year to four digits (`strftime("%Y")` writes year 999 as `999`,
    which breaks both the width and `fromisoformat`) and is several times cheaper than `strftime`.
    """
    return moment.astimezone(UTC).isoformat(" ", "microseconds")[:TIME_TEXT_WIDTH]


def time_texts(moments: Iterable[datetime]) -> list[str]:
    """`time_text` of many aware datetimes, several times faster for a batch (`iter_time_texts`)."""
    return list(iter_time_texts(moments))


def iter_time_texts(moments: Iterable[datetime]) -> Iterator[str]:
    """`time_text` of each aware datetime, lazily, so a row can be built and sent while it is hot.

    Formatting a datetime with its zone (about 1.5 us) is the dearest part of a SQLite row. The rows
    of a batch share few days, few seconds of the day (bars repeat the same minutes, trades crowd
    into the same seconds) and few microseconds (venues stamp whole milliseconds, bars none), so each
    part is formatted once per batch, from the exact offset to the epoch, and the three are joined.
    """
    days: dict[int, str] = {}
    seconds: dict[int, str] = {}
    micros: dict[int, str] = {0: "000000"}
    day_of, second_of, micro_of = days.get, seconds.get, micros.get
    for moment in moments:
        since = moment - _EPOCH  # exact whatever the zone; days/seconds/microseconds are >= 0 parts
        day = day_of(since.days)
        if day is None:
            day = days[since.days] = time_text(moment)[:11]
        second = second_of(since.seconds)
        if second is None:
            second = seconds[since.seconds] = _second_text(since.seconds)
        micro = micro_of(since.microseconds)
        if micro is None:
            micro = micros[since.microseconds] = str(since.microseconds + 1_000_000)[1:]
        yield day + second + micro


def _second_text(second_of_day: int) -> str:
    """`HH:MM:SS.` of a second of the day (what `isoformat` writes, without building a datetime)."""
    minutes, second = divmod(second_of_day, 60)
    # printf-style: an f-string parses its three format specs on every call, at twice the cost
    return "%02d:%02d:%02d." % (minutes // 60, minutes % 60, second)  # noqa: UP031


def decimal_text(number: Decimal) -> str:
    """Plain (never exponent) text of a normalised decimal, as `format(number, "f")` writes it.

    `str()` is the same text and three times cheaper, except where it switches to exponent notation
    (below 1e-6), which only then costs the slower `format`. `str()` writes the exponent as `e` when
    the thread's decimal context has `capitals=0`, so both letters are looked for.
    """
    text = str(number)
    return text if "E" not in text and "e" not in text else format(number, "f")
