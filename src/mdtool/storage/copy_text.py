"""Bars and ticks as COPY text, built in one pass: the row building of the writer's hot paths.

psycopg's `write_row` formats each row in C but costs two Python calls per row, which on a backfill is
a fifth of the writer thread. A batch of bars is instead turned into one block of COPY text: decimals
as `str()` writes them (what psycopg sends for a `Decimal`, and exponent forms such as `1E-8` are read
by `numeric` as the same number), timestamps as UTC text with an explicit `+00`, NULL as `\\N`. Names
are written unescaped, so a batch whose exchange, symbol or interval holds a character COPY would need
escaped (or a NUL) is refused (None) and goes through `write_row`, as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain
from operator import attrgetter

from mdtool.records import Bar, Tick
from mdtool.storage.sqlite_text import time_texts

_NULL = "\\N"
_NEEDS_ESCAPE = ("\\", "\t", "\n", "\r", "\x00")
"""COPY text escapes; NUL, which no text column can hold, is left to psycopg to refuse as it always did."""
_names = attrgetter("exchange", "symbol", "interval")


def bars_copy_text(bars: Sequence[Bar]) -> str | None:
    """COPY text of `bars` in `BAR_KEY + BAR_VALUES` order, or None when a name needs escaping."""
    names = set(chain.from_iterable(map(_names, bars)))
    if any(special in name for name in names for special in _NEEDS_ESCAPE):
        return None
    times = time_texts(map(attrgetter("timestamp"), bars))
    null = _NULL
    lines = [
        f"{b.exchange}\t{b.symbol}\t{b.interval}\t{time}+00\t{b.open!s}\t{b.high!s}\t{b.low!s}\t{b.close!s}\t"
        f"{b.volume!s}\t{null if b.quote_volume is None else b.quote_volume!s}\t"
        f"{null if b.trade_count is None else b.trade_count}\n"
        for b, time in zip(bars, times, strict=True)
    ]
    return "".join(lines)


_ESCAPED = re.compile(r"[\\\t\n\r\x00]")
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
    if any(map(_payload, ticks)) or _ESCAPED.search(
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
