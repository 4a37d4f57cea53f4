"""Line numbers for configuration errors: `tomllib` returns plain dicts and forgets where keys were.

A light scan of the text finds the header of the n-th `[[table]]` (or `[table]`) and the line of a key
inside it, which is all an error message needs; it never decides validity (tomllib does that).
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


class KeyLocator:
    """Finds `table[index].key` in the text of a TOML file."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()

    def line(self, table: str, index: int | None, key: str | None) -> int | None:
        """1-based line of the key (or of the table header without a key); None when not found."""
        start = self._header(table, index or 0)
        if start is None:
            return None
        if key is None:
            return start + 1
        for number in range(start + 1, len(self._lines)):
            text = self._lines[number]
            if _HEADER.match(text):
                break
            match = _KEY.match(text)
            if match and match.group(1) == key:
                return number + 1
        return start + 1

    def _header(self, table: str, index: int) -> int | None:
        seen = 0
        for number, text in enumerate(self._lines):
            match = _HEADER.match(text)
            if match and match.group(1) == table:
                if seen == index:
                    return number
                seen += 1
        return None
