"""Bars and ticks as COPY text, built in one pass: the row building of the writer's hot paths.

psycopg's `write_row` formats each row in C but costs two Python calls per row, which on a backfill is
a fifth of the writer thread. A batch of bars is instead turned into one block of COPY text: decimals
as `str()` writes them (what psycopg sends for a `Decimal`, and exponent forms such as `1E-8` are read
by `numeric` as the same number), timestamps as UTC text with an explicit `+00`, NULL as `\\N`. Names
are written unescaped, so a batch whose exchange, symbol or interval holds a character COPY would need
escaped (or a NUL) is refused (None) and goes through `write_row`, as before.

In the usual batch (one series, evenly spaced whole-second times, every optional value present) times
are integer seconds split, in C-level passes, into days since the epoch (a few per batch, formatted
once) and seconds of the day, whose `HH:MM` and `SS` are looked up in tables: formatting an aware
datetime (or caching its text per second of the day, which a batch of minute bars never repeats) costs
more than the rest of its row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain, repeat
from operator import attrgetter, floordiv, is_, mod

from mdtool.ranges import evenly_spaced
from mdtool.records import Bar, Tick
from mdtool.storage.sqlite_text import time_texts

_NULL = "\\N"
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r\x00]")
"""Characters COPY text must escape; a batch holding one (or a NUL, which no text column can hold) goes
through `write_row`, which escapes them and refuses a NUL as it always did."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_DAY_SECONDS = 24 * 60 * 60
_HOURS_MINUTES = tuple(f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(24 * 60))
_SECONDS = tuple(f"{second:02d}" for second in range(60))
_BAR_NAMES = attrgetter("exchange", "symbol", "interval")
_NO_VALUE = "\tNone"
"""What an f-string writes for a missing quote volume or trade count (`str(None)` after a tab)."""


def bars_copy_text(bars: Sequence[Bar]) -> str | None:
    """COPY text of `bars` in `BAR_KEY + BAR_VALUES` order, or None when a name needs escaping."""
    series = set(map(_BAR_NAMES, bars))
    if any(_NEEDS_ESCAPE.search(name) for names in series for name in names):
        return None
    if len(series) == 1:
        text = _one_series(bars, "\t".join(*series))
        if text is not None:
            return text
    null = _NULL
    lines = [
        f"{b.exchange}\t{b.symbol}\t{b.interval}\t{b.timestamp!s}\t{b.open!s}\t{b.high!s}\t{b.low!s}\t"
        f"{b.close!s}\t{b.volume!s}\t{null if b.quote_volume is None else b.quote_volume!s}\t"
        f"{null if b.trade_count is None else b.trade_count}\n"
        for b in bars
    ]
    return "".join(lines)


def _one_series(bars: Sequence[Bar], names: str) -> str | None:
    """The usual batch: one series, evenly spaced in whole seconds, no missing value; None otherwise.

    Evenly spaced is told by `ranges.evenly_spaced` (one addition and comparison per bar); the times
    are then integer seconds, a `range`, split into days and seconds of the day by
    C-level passes. A missing optional value is not looked for beforehand: the f-string writes it as
    `None`, which no other field can contain after a tab, and finding that text costs less than a
    pass over the bars.
    """
    times = list(map(_timestamp, bars))
    step = times[1] - times[0] if len(times) > 1 else _SECOND
    start, start_rest = divmod(times[0] - _EPOCH, _SECOND)
    every, every_rest = divmod(step, _SECOND)
    if start_rest or every_rest or every <= 0 or not evenly_spaced(times, step):
        return None
    seconds = range(start, start + every * len(times), every)
    first_day, last_day = seconds[0] // _DAY_SECONDS, seconds[-1] // _DAY_SECONDS
    dates = (
        range(first_day, last_day + 1)
        if every <= _DAY_SECONDS
        else set(map(floordiv, seconds, repeat(_DAY_SECONDS)))
    )
    days = {day: (_EPOCH + timedelta(day)).isoformat()[:10] for day in dates}
    of_day = list(map(mod, seconds, repeat(_DAY_SECONDS)))
    clock = zip(
        map(days.__getitem__, map(floordiv, seconds, repeat(_DAY_SECONDS))),
        map(_HOURS_MINUTES.__getitem__, map(floordiv, of_day, repeat(60))),
        map(_SECONDS.__getitem__, map(mod, of_day, repeat(60))),
        strict=True,
    )
    lines = [
        f"{names}\t{day} {hours_minutes}:{second}+00\t{b.open!s}\t{b.high!s}\t{b.low!s}\t{b.close!s}\t"
        f"{b.volume!s}\t{b.quote_volume!s}\t{b.trade_count}\n"
        for b, (day, hours_minutes, second) in zip(bars, clock, strict=True)
    ]
    text = "".join(lines)
    return None if _NO_VALUE in text else text


_tick_names = attrgetter("exchange", "symbol", "source", "side")
_trade_id = attrgetter("trade_id")
_payload = attrgetter("payload")
_timestamp = attrgetter("timestamp")


def ticks_copy_text(ticks: Sequence[Tick]) -> str | None:
    """COPY text of `ticks` in `TICK_KEY + TICK_VALUES` order, or None when a name or trade id needs
    escaping or a tick carries a payload (JSON is left to psycopg's adapter).

    The live stream's batch: one f-string per tick instead of a `write_row` call, which formats
    each value through psycopg's dumpers and measured as the writer thread's largest cost.
    """
    names = set(map(_tick_names, ticks))
    if not all(map(is_, map(_payload, ticks), repeat(None))) or _NEEDS_ESCAPE.search(
        "".join(chain(map(str, chain.from_iterable(names)), map(_trade_id, ticks)))
    ):
        return None
    times = time_texts(map(_timestamp, ticks))
    null = _NULL
    lines = [
        f"{t.exchange}\t{t.symbol}\t{time}+00\t{t.source}\t{t.trade_id}\t{t.price!s}\t"
        f"{null if t.size is None else t.size!s}\t{null if t.side is None else t.side}\t{null}\n"
        for t, time in zip(ticks, times, strict=True)
    ]
    return "".join(lines)
