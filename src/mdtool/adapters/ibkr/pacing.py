"""IB's historical-data pacing rules, enforced on the client so that IB never has to (error 162).

IB counts a violation on any of: an identical request within 15 s; six or more requests for one
contract, exchange and tick type within 2 s; more than 60 requests within 10 minutes (BID_ASK counts
twice, in the burst rule too). ib_async does none of this. IB judges at its receive time, which is
later than our send time by an unknown delay, so a request is recorded when its *answer* arrives: the gap
IB measures between two requests is then never shorter than the gap measured here.

IB also counts the requests of every client of the gateway, so with a `Ledger` the other mdtool
processes' requests (wall-clock time, shared through a file) count toward the identical-request and
burst rules, which a re-run started right after a run would otherwise break. They do not count toward
the 10-minute window: a ledger line cannot tell whether it was written against the gateway now on that
port or an earlier one, and a wait caused by someone else's requests must stay short (at most 15 s).
The clock and sleep are injected and the windows configurable, so tests run the rules scaled down while
the defaults are IB's numbers.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from mdtool.adapters.ibkr.ledger import Entry, Ledger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PacingRules:
    """The limits; `margin_seconds` is added to every wait to absorb timer jitter."""

    identical_seconds: float = 15.0
    burst_seconds: float = 2.0
    burst_max: int = 5
    window_seconds: float = 600.0
    window_max: int = 60
    margin_seconds: float = 0.25

    def scaled(self, factor: float) -> PacingRules:
        """The same rules with every window multiplied by `factor` (tests use e.g. 0.02)."""
        return PacingRules(
            self.identical_seconds * factor,
            self.burst_seconds * factor,
            self.burst_max,
            self.window_seconds * factor,
            self.window_max,
            self.margin_seconds * factor,
        )


class Pacer:
    """Remembers recent historical requests and says how long to wait before the next one."""

    def __init__(
        self,
        rules: PacingRules = PacingRules(),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        ledger: Ledger | None = None,
    ) -> None:
        self.rules = rules
        self._clock = clock
        self._sleep = sleep
        self._ledger = ledger
        self._owner = uuid.uuid4().hex
        self._sent: deque[Entry] = deque()
        horizon = max(rules.identical_seconds, rules.burst_seconds, rules.window_seconds)
        self._horizon = horizon + rules.margin_seconds

    def delay(self, identity: Hashable, tick_type: Hashable, weight: int = 1) -> float:
        """Seconds to wait before sending a request with this identity and (contract, tick type)."""
        rules, now = self.rules, self._clock()
        key, kind = _key(identity), _key(tick_type)
        own, sent = self._recent(now)
        ready = now
        for entry in sent:
            if entry.identity == key:
                ready = max(ready, entry.at + rules.identical_seconds + rules.margin_seconds)
        burst = [e for e in sent if e.tick_type == kind and now - e.at < rules.burst_seconds]
        ready = max(
            ready, _expiry(burst, weight, rules.burst_max, rules.burst_seconds + rules.margin_seconds)
        )
        window = [e for e in own if now - e.at < rules.window_seconds]
        ready = max(
            ready, _expiry(window, weight, rules.window_max, rules.window_seconds + rules.margin_seconds)
        )
        # A wall clock stepped backwards must not turn into an endless wait.
        return min(ready - now, self._horizon)

    def _recent(self, now: float) -> tuple[list[Entry], list[Entry]]:
        """This pacer's recent requests, and those plus the other processes' ones, oldest first."""
        while self._sent and now - self._sent[0].at >= self._horizon:
            self._sent.popleft()
        own = list(self._sent)
        if self._ledger is None:
            return own, own
        short = max(self.rules.identical_seconds, self.rules.burst_seconds) + self.rules.margin_seconds
        others = [e for e in self._ledger.read(now - short) if e.owner != self._owner]
        return own, sorted([*own, *others], key=lambda e: e.at)

    async def wait(self, identity: Hashable, tick_type: Hashable, weight: int = 1) -> None:
        """Sleep until the request may be sent without breaking any rule."""
        while (pause := self.delay(identity, tick_type, weight)) > 0:
            if pause >= 1:
                log.info("IB pacing: waiting %.1f s before the next historical request", pause)
            await self._sleep(pause)

    def record(self, identity: Hashable, tick_type: Hashable, weight: int = 1) -> None:
        """Count a request whose answer (bars or error) has just arrived."""
        now = self._clock()
        entry = Entry(now, _key(identity), _key(tick_type), weight, self._owner)
        self._sent.append(entry)
        if self._ledger is not None:
            self._ledger.append(entry, keep_since=now - self._horizon)


def _key(value: Hashable) -> str:
    """A text key that is the same in every process (`hash()` of a str is salted per process)."""
    return hashlib.sha256(repr(value).encode()).hexdigest()[:24]


def _expiry(entries: list[Entry], weight: int, limit: int, span: float) -> float:
    """When enough of `entries` (oldest first) have left a `span`-long window for `weight` more to fit
    under `limit`; 0 when they fit already."""
    excess = sum(e.weight for e in entries) + weight - limit
    ready = 0.0
    for entry in entries:
        if excess <= 0:
            break
        excess -= entry.weight
        ready = entry.at + span
    return ready
