"""Choices the command line offers for the venue adapters, in a module that imports no client library.

`mdtool --help` builds its options from these, so they live apart from the adapters: importing anything
under `mdtool.adapters.binance` imports binance-connector and the database layer.
"""

from __future__ import annotations

from enum import StrEnum


class Via(StrEnum):
    """Where Binance history comes from (`--via`)."""

    auto = "auto"
    archive = "archive"
    rest = "rest"


DEFAULT_STREAMS_PER_CONNECTION = 200
"""Well under Binance's 1,024 limit: a drop then costs a fifth of the gap fill, and the URL stays short."""
