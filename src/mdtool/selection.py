"""Which symbols a stream covers: explicit names, or a selection from the venue's listing, and a shard of it.

Pure logic (no venue I/O), shared by `mdtool stream` and the stream jobs of `mdtool run`. A shard is a
stable hash share of the symbol name, never a list position, so that N processes on N hosts split a
market with no overlap and nothing left out, and a listing change moves only the symbols it touches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from mdtool.errors import UsageError

_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Shard:
    """Share `index` (1-based) of `count`: the symbols whose hash bucket is `index - 1`."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`I/N` with 1 <= I <= N; anything else is a usage error naming the value."""
        index_text, sep, count_text = text.strip().partition("/")
        if not sep or not index_text.isdigit() or not count_text.isdigit():
            raise UsageError(f"--shard must be I/N (e.g. 1/4), got {text!r}")
        index, count = int(index_text), int(count_text)
        if count < 1 or not 1 <= index <= count:
            raise UsageError(f"--shard {text}: I must be between 1 and N")
        return cls(index, count)

    def owns(self, symbol: str) -> bool:
        return shard_bucket(symbol, self.count) == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_bucket(symbol: str, count: int) -> int:
    """0..count-1 from a hash of the upper-case symbol (stable across processes, hosts and versions)."""
    digest = hashlib.blake2b(symbol.upper().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True)
class ListedSymbol:
    """One symbol of a venue's listing (Binance `exchangeInfo`): its quote asset and whether it trades."""

    symbol: str
    quote: str
    trading: bool


@dataclass(frozen=True)
class Selection:
    """Explicit symbols, plus (when `every_listed`, `quote` or `patterns` is set) trading symbols that match.

    `quote` and `patterns` narrow the listing: a symbol is selected when it has the quote asset (if
    given) and matches any pattern (if given). Explicit symbols are always kept, trading or not, but must
    be listed. The shard applies to the union.
    """

    symbols: tuple[str, ...] = ()
    every_listed: bool = False
    quote: str | None = None
    patterns: tuple[str, ...] = ()
    shard: Shard | None = None

    @classmethod
    def from_arguments(
        cls,
        arguments: Sequence[str],
        *,
        every_listed: bool = False,
        quote: str | None = None,
        shard: str | None = None,
    ) -> Selection:
        """Split command-line words into explicit symbols and shell-style patterns (`*USDT`, `BTC*`)."""
        words = [word.strip().upper() for word in arguments if word.strip()]
        patterns = tuple(word for word in words if _GLOB_CHARACTERS & set(word))
        symbols = tuple(dict.fromkeys(word for word in words if word not in patterns))
        selection = cls(
            symbols=symbols,
            every_listed=every_listed,
            quote=quote.strip().upper() if quote else None,
            patterns=patterns,
            shard=Shard.parse(shard) if shard else None,
        )
        if not selection.symbols and not selection.selects_from_listing:
            raise UsageError("name at least one symbol or pattern, or use --all / --quote")
        return selection

    @property
    def selects_from_listing(self) -> bool:
        """True when the set depends on the venue's listing (so it is refreshed as listings change)."""
        return self.every_listed or self.quote is not None or bool(self.patterns)

    def resolve(self, listing: Iterable[ListedSymbol]) -> list[str]:
        """The selected symbols, sorted; unknown explicit symbols and an empty result are usage errors."""
        listed = {entry.symbol: entry for entry in listing}
        unknown = [symbol for symbol in self.symbols if symbol not in listed]
        if unknown:
            raise UsageError(f"unknown symbol{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
        chosen = set(self.symbols)
        if self.selects_from_listing:
            chosen.update(entry.symbol for entry in listed.values() if entry.trading and self._matches(entry))
        if self.shard is not None:
            chosen = {symbol for symbol in chosen if self.shard.owns(symbol)}
        if not chosen:
            raise UsageError(f"the selection {self.describe()} matches no symbol")
        return sorted(chosen)

    def describe(self) -> str:
        """The selection as the user wrote it, for messages and logs."""
        parts = [*self.symbols, *self.patterns]
        if self.every_listed:
            parts.insert(0, "--all")
        if self.quote:
            parts.append(f"--quote {self.quote}")
        if self.shard:
            parts.append(f"--shard {self.shard}")
        return " ".join(parts)

    def _matches(self, entry: ListedSymbol) -> bool:
        if self.quote is not None and entry.quote.upper() != self.quote:
            return False
        return not self.patterns or any(fnmatchcase(entry.symbol, pattern) for pattern in self.patterns)
