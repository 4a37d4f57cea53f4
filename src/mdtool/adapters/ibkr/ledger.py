"""The historical requests every mdtool process made to one gateway, shared through a small file.

IB judges pacing per gateway session, not per process: a cron backfill that starts a second after
another one ended (or a re-run that repairs the same gaps) would otherwise repeat an identical request
within 15 s or make the sixth request for a contract within 2 s, and earn error 162. Each process appends
one JSON line per request and reads the others' lines before it sends. Appends are single `write`s in
`O_APPEND` mode under an advisory lock; a ledger that cannot be written is switched off with a warning,
and pacing then falls back to this process's own memory.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

COMPACT_BYTES = 64 * 1024  # rewrite without stale lines once the file grows past this


@dataclass(frozen=True)
class Entry:
    """One request as the pacer counts it: when its answer came, what it asked, how much it weighs."""

    at: float
    identity: str
    tick_type: str
    weight: int
    owner: str
    """Which pacer recorded it (one per process), so that a pacer skips its own lines."""


def default_path(host: str, port: int) -> Path:
    """`$XDG_CACHE_HOME/mdtool/ibkr-pacing-HOST-PORT.jsonl`: `~/.cache` without XDG_CACHE_HOME, the
    temporary directory for a user without a home (cron and containers may have neither)."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            base = tempfile.gettempdir()
    safe_host = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
    return Path(base) / "mdtool" / f"ibkr-pacing-{safe_host}-{port}.jsonl"


class Ledger:
    """Append-only request log shared by the processes that talk to one gateway."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._enabled = True

    def read(self, since: float) -> list[Entry]:
        """Entries recorded at or after `since` (wall-clock seconds), by any process."""
        if not self._enabled:
            return []
        try:
            with self.path.open("r", encoding="utf-8") as file:
                fcntl.flock(file, fcntl.LOCK_SH)
                lines = file.readlines()
        except FileNotFoundError:
            return []
        except OSError as error:
            self._disable(error)
            return []
        entries = [entry for entry in map(_parse, lines) if entry is not None]
        return [entry for entry in entries if entry.at >= since]

    def append(self, entry: Entry, keep_since: float) -> None:
        """Add `entry`; drop lines older than `keep_since` when the file has grown large."""
        if not self._enabled:
            return
        line = json.dumps([entry.at, entry.identity, entry.tick_type, entry.weight, entry.owner]) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+", encoding="utf-8") as file:
                fcntl.flock(file, fcntl.LOCK_EX)
                file.write(line)
                file.flush()
                if file.tell() > COMPACT_BYTES:
                    file.seek(0)
                    kept = [raw for raw in file.readlines() if (e := _parse(raw)) and e.at >= keep_since]
                    file.seek(0)
                    file.truncate()
                    file.writelines(kept)
        except OSError as error:
            self._disable(error)

    def _disable(self, error: OSError) -> None:
        self._enabled = False
        log.warning(
            "cannot use the IB pacing ledger %s (%s); pacing only this process's requests", self.path, error
        )


def _parse(line: str) -> Entry | None:
    try:
        at, identity, tick_type, weight, owner = json.loads(line)
        return Entry(float(at), str(identity), str(tick_type), int(weight), str(owner))
    except (ValueError, TypeError):
        return None
