"""IB's historical-data pacing rules, enforced on the client so that IB never has to (error 162).

IB counts a violation on any of: an identical request within 15 s; six or more requests for one
contract, exchange and tick type within 2 s; more than 60 requests within 10 minutes (BID_ASK counts
twice). ib_async does none of this. IB judges at its receive time, which is later than our send time
by an unknown delay, so a request is recorded when its *answer* arrives: the gap IB measures between
two requests is then never shorter than the gap measured here. The clock and sleep are injected and the
windows configurable, so tests run the rules scaled down while the defaults are IB's numbers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class _Sent:
    at: float
    identity: Hashable
    tick_type: Hashable
    weight: int


class Pacer:
    """Remembers recent historical requests and says how long to wait before the next one."""

    def __init__(
        self,
        rules: PacingRules = PacingRules(),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rules = rules
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[_Sent] = deque()

    def delay(self, identity: Hashable, tick_type: Hashable, weight: int = 1) -> float:
        """Seconds to wait before sending a request with this identity and (contract, tick type)."""
        rules, now = self.rules, self._clock()
        horizon = max(rules.identical_seconds, rules.burst_seconds, rules.window_seconds)
        while self._sent and now - self._sent[0].at >= horizon + rules.margin_seconds:
            self._sent.popleft()
        ready = now
        for sent in self._sent:
            if sent.identity == identity:
                ready = max(ready, sent.at + rules.identical_seconds + rules.margin_seconds)
        burst = [s.at for s in self._sent if s.tick_type == tick_type and now - s.at < rules.burst_seconds]
        if len(burst) >= rules.burst_max:
            oldest_to_expire = burst[len(burst) - rules.burst_max]
            ready = max(ready, oldest_to_expire + rules.burst_seconds + rules.margin_seconds)
        window = [s for s in self._sent if now - s.at < rules.window_seconds]
        excess = sum(s.weight for s in window) + weight - rules.window_max
        for sent in window:
            if excess <= 0:
                break
            excess -= sent.weight
            ready = max(ready, sent.at + rules.window_seconds + rules.margin_seconds)
        return ready - now

    async def wait(self, identity: Hashable, tick_type: Hashable, weight: int = 1) -> None:
        """Sleep until the request may be sent without breaking any rule."""
        while (pause := self.delay(identity, tick_type, weight)) > 0:
            if pause >= 1:
                log.info("IB pacing: waiting %.1f s before the next historical request", pause)
            await self._sleep(pause)

    def record(self, identity: Hashable, tick_type: Hashable, weight: int = 1) -> None:
        """Count a request whose answer (bars or error) has just arrived."""
        self._sent.append(_Sent(self._clock(), identity, tick_type, weight))
