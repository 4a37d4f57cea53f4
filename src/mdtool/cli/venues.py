"""The venues the `backfill` and `stream` commands accept as SOURCE."""

from __future__ import annotations

from enum import StrEnum


class Source(StrEnum):
    """Venues with historical bars and live ticks."""

    binance = "binance"
    ibkr = "ibkr"
