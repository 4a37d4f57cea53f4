"""Pure arithmetic on half-open time ranges [a, b) of bar open times: holes in a series, differences,
and whether a series of opens is evenly spaced."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import accumulate, repeat
from operator import add
from typing import Any

from mdtool.intervals import next_open

Range = tuple[datetime, datetime]


def holes(interval: str, start: datetime, end: datetime, opens: Iterable[datetime]) -> list[Range]:
    """Ranges of [start, end) with no bar, given the bar open times present, in ascending order."""
    found: list[Range] = []
    expected = start
    for moment in opens:
        if moment > expected:
            found.append((expected, min(moment, end)))
        if moment >= expected:
            expected = next_open(interval, moment)
    if expected < end:
        found.append((expected, end))
    return found


def subtract(ranges: Iterable[Range], covered: Iterable[Range]) -> list[Range]:
    """What is left of `ranges` after removing every `covered` range (both lists may overlap freely)."""
    cuts = sorted(covered)
    left: list[Range] = []
    for start, end in ranges:
        cursor = start
        for cut_start, cut_end in cuts:
            if cut_end <= cursor or cut_start >= end:
                continue
            if cut_start > cursor:
                left.append((cursor, cut_start))
            cursor = max(cursor, cut_end)
            if cursor >= end:
                break
        if cursor < end:
            left.append((cursor, end))
    return left


def evenly_spaced(values: Sequence[Any], step: Any) -> bool:
    """True when each of `values` (datetimes or integers) is the one before plus `step`.

    The test the hot paths take their fast route by (a page or batch of bars one interval apart): the
    values the series would have are made by one addition each and compared with the ones it has, in
    C, without hashing or a Python step per value. Empty and one-value series are evenly spaced.
    """
    if len(values) < 2:
        return True
    expected = accumulate(repeat(step, len(values) - 1), add, initial=values[0])
    return list(expected) == list(values)
