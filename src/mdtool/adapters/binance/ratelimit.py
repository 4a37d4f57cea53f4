"""Request-weight pacing as Binance documents it, shared by every thread that talks to one REST API.

Binance counts request weight per IP in fixed windows aligned to the clock (a 1 MINUTE window starts
every minute), publishes the limits in `exchangeInfo.rateLimits` and reports the weight used so far
in `X-MBX-USED-WEIGHT-<intervalNum><intervalLetter>` on every response. Exceeding a limit earns a 429
with `Retry-After`; sending anything during that wait earns a 418 IP ban. So the gate

* learns the limits from `exchangeInfo` (never assumes 6000),
* admits a request only when the last reported usage plus the weight already in flight plus this
  request stays under the limit (with a safety margin), otherwise waits for the next window, and
* after a 429 blocks *every* caller until `Retry-After` has passed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_UNIT_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
_UNIT_LETTER = {"SECOND": "s", "MINUTE": "m", "HOUR": "h", "DAY": "d"}


@dataclass(frozen=True)
class WeightWindow:
    """One REQUEST_WEIGHT limiter: `limit` weight per `seconds`, reported in header `header`."""

    seconds: float
    limit: int
    header: str


def parse_rate_limits(info: Mapping[str, Any]) -> list[WeightWindow]:
    """The REQUEST_WEIGHT limiters of an `exchangeInfo` answer (there may be several windows)."""
    windows = []
    for entry in info.get("rateLimits", []):
        unit = str(entry.get("interval", "")).upper()
        if entry.get("rateLimitType") != "REQUEST_WEIGHT" or unit not in _UNIT_SECONDS:
            continue
        num = int(entry.get("intervalNum", 1))
        windows.append(
            WeightWindow(
                seconds=float(_UNIT_SECONDS[unit] * num),
                limit=int(entry["limit"]),
                header=f"x-mbx-used-weight-{num}{_UNIT_LETTER[unit]}",
            )
        )
    return windows


def parse_retry_after(headers: Mapping[str, Any] | None) -> float | None:
    """Seconds from a `Retry-After` header (Binance sends whole seconds), or None when absent."""
    if not headers:
        return None
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def used_weights(headers: Mapping[str, Any] | None) -> dict[str, int]:
    """`x-mbx-used-weight-*` headers by lower-case name."""
    found: dict[str, int] = {}
    for key, value in (headers or {}).items():
        name = str(key).lower()
        if name.startswith("x-mbx-used-weight-"):
            try:
                found[name] = int(value)
            except (TypeError, ValueError):
                continue
    return found


@dataclass
class _Usage:
    window_id: int = -1
    used: int = 0
    in_flight: int = 0


class RateGate:
    """Thread-safe admission control for one REST endpoint family (see the module docstring)."""

    def __init__(self, safety: float = 0.9) -> None:
        self._safety = safety
        self._cond = threading.Condition()
        self._windows: list[WeightWindow] = []
        self._usage: list[_Usage] = []
        self._blocked_until = 0.0

    @property
    def configured(self) -> bool:
        with self._cond:
            return bool(self._windows)

    @property
    def limits(self) -> list[WeightWindow]:
        with self._cond:
            return list(self._windows)

    @property
    def used(self) -> int:
        """Weight used (and in flight) in the fullest current window: the status line's "weight used"."""
        with self._cond:
            now = time.time()
            busiest = 0
            for window, usage in zip(self._windows, self._usage, strict=True):
                if usage.window_id == int(now // window.seconds):
                    busiest = max(busiest, usage.used + usage.in_flight)
            return busiest

    def configure(self, windows: Sequence[WeightWindow]) -> None:
        """Adopt the limits from `exchangeInfo`; usage counters start afresh."""
        with self._cond:
            if list(windows) != self._windows:
                self._windows = list(windows)
                self._usage = [_Usage() for _ in windows]
            self._cond.notify_all()

    def block(self, seconds: float) -> None:
        """After a 429: nobody may send anything for `seconds`."""
        with self._cond:
            self._blocked_until = max(self._blocked_until, time.time() + seconds)
            self._cond.notify_all()

    def acquire(self, weight: int) -> None:
        """Wait until a request of `weight` fits under every limit, then reserve it."""
        with self._cond:
            while True:
                now = time.time()
                delay = self._blocked_until - now
                if delay <= 0:
                    delay = self._window_delay(now, weight)
                if delay <= 0:
                    for usage in self._usage:
                        usage.in_flight += weight
                    return
                self._cond.wait(delay)

    def settle(self, weight: int, headers: Mapping[str, Any] | None) -> None:
        """Release a reservation and adopt the usage the server reported (or estimate it)."""
        reported = used_weights(headers)
        with self._cond:
            now = time.time()
            for window, usage in zip(self._windows, self._usage, strict=True):
                usage.in_flight = max(0, usage.in_flight - weight)
                window_id = int(now // window.seconds)
                value = reported.get(window.header)
                if window_id != usage.window_id:
                    usage.window_id, usage.used = window_id, 0
                usage.used = max(usage.used, value) if value is not None else usage.used + weight
            self._cond.notify_all()

    def _window_delay(self, now: float, weight: int) -> float:
        """Seconds until every window has room for `weight` (0: send now)."""
        delay = 0.0
        for window, usage in zip(self._windows, self._usage, strict=True):
            window_id = int(now // window.seconds)
            if window_id != usage.window_id:
                usage.window_id, usage.used = window_id, 0
            busy = usage.used + usage.in_flight
            if busy and busy + weight > window.limit * self._safety:
                # Clocks differ a little from Binance's; start the next window a moment late.
                margin = min(1.0, window.seconds * 0.02)
                delay = max(delay, (window_id + 1) * window.seconds - now + margin)
        return delay
