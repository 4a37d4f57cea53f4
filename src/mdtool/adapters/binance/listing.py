"""Binance's symbol listing and how symbols are spread over connections: pure logic, no sockets.

The listing is `GET /api/v3/exchangeInfo` without parameters (weight 20): every symbol with its status
(`TRADING`, `BREAK` for halted, `END_OF_DAY`, ...) and quote asset, which `Selection` narrows.

`SlotPlan` places symbols on connections of at most `capacity` streams. A symbol stays on its
connection for as long as it is selected, so a listing change subscribes or unsubscribes only the
symbols it touches, on the connections that carry them; new symbols fill the first connection with room.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mdtool.errors import ExchangeError
from mdtool.selection import ListedSymbol

TRADING = "TRADING"


def parse_listing(info: Mapping[str, Any]) -> list[ListedSymbol]:
    """The `symbols` of an `exchangeInfo` answer as `ListedSymbol`s (trading = status `TRADING`)."""
    entries = info.get("symbols")
    if not isinstance(entries, list):
        raise ExchangeError("Binance exchangeInfo has no symbol list")
    listed = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("symbol"), str):
            continue
        listed.append(
            ListedSymbol(
                symbol=entry["symbol"].upper(),
                quote=str(entry.get("quoteAsset", "")).upper(),
                trading=entry.get("status") == TRADING,
            )
        )
    return listed


def trade_stream(symbol: str) -> str:
    """The raw trade stream of a symbol (stream names are lower case)."""
    return f"{symbol.lower()}@trade"


class SlotPlan:
    """Which connection (slot) carries which symbols; slots hold at most `capacity` symbols."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.slots: list[list[str]] = []
        self._slot_of: dict[str, int] = {}

    @property
    def symbols(self) -> list[str]:
        return sorted(self._slot_of)

    def slot_of(self, symbol: str) -> int | None:
        return self._slot_of.get(symbol)

    def add(self, symbols: Iterable[str]) -> dict[int, list[str]]:
        """Place new symbols (sorted, in the first slots with room); returns what each slot gained."""
        gained: dict[int, list[str]] = {}
        slot = 0
        for symbol in sorted(set(symbols) - self._slot_of.keys()):
            while slot < len(self.slots) and len(self.slots[slot]) >= self.capacity:
                slot += 1
            if slot == len(self.slots):
                self.slots.append([])
            self.slots[slot].append(symbol)
            self._slot_of[symbol] = slot
            gained.setdefault(slot, []).append(symbol)
        return gained

    def remove(self, symbols: Iterable[str]) -> dict[int, list[str]]:
        """Take symbols off their slots; returns what each slot lost (unknown symbols are ignored)."""
        lost: dict[int, list[str]] = {}
        for symbol in sorted(set(symbols)):
            slot = self._slot_of.pop(symbol, None)
            if slot is None:
                continue
            self.slots[slot].remove(symbol)
            lost.setdefault(slot, []).append(symbol)
        return lost
