"""IB's historical-data pacing rules, judged at the fake's receive time (error 162 when broken).

IB counts a violation on an identical request within 15 s, six or more requests for one contract,
exchange and tick type within 2 s, or more than 60 requests within 10 minutes; BID_ASK counts twice.
The windows are configurable so that tests can run them scaled down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PACING_TEXT = "Historical Market Data Service error message:Historical data request pacing violation"


@dataclass(frozen=True)
class PacingRules:
    """IB's historical-data pacing limits; defaults are IB's numbers, tests pass scaled-down windows."""

    identical_seconds: float = 15.0
    burst_seconds: float = 2.0
    burst_max: int = 5
    window_seconds: float = 600.0
    window_max: int = 60


@dataclass
class HistoricalRequest:
    """One paced request as the fake received it (bars, head timestamp or historical ticks).

    For historical ticks `end` holds `start|end`, `bar_size` is `ticks` and `duration` the tick count.
    """

    req_id: int
    con_id: int
    symbol: str
    exchange: str
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int
    keep_up_to_date: bool
    received_at: float
    session: int

    @property
    def weight(self) -> int:
        return 2 if self.what_to_show.upper() == "BID_ASK" else 1


def pacing_problem(
    rules: PacingRules, earlier: Sequence[HistoricalRequest], request: HistoricalRequest
) -> str | None:
    """Which of IB's three pacing rules `request` breaks, given the requests received before it."""
    now = request.received_at
    identity = _identity(request)
    for previous in reversed(earlier):
        if now - previous.received_at < rules.identical_seconds and _identity(previous) == identity:
            return f"identical request within {rules.identical_seconds} s"
    same = sum(
        r.weight
        for r in earlier
        if now - r.received_at < rules.burst_seconds and _tick_type(r) == _tick_type(request)
    )
    if same + request.weight > rules.burst_max:
        return f"more than {rules.burst_max} requests for one contract within {rules.burst_seconds} s"
    recent = sum(r.weight for r in earlier if now - r.received_at < rules.window_seconds)
    if recent + request.weight > rules.window_max:
        return f"more than {rules.window_max} requests within {rules.window_seconds} s"
    return None


def _identity(r: HistoricalRequest) -> tuple[object, ...]:
    return (r.con_id, r.exchange, r.end, r.bar_size, r.duration, r.use_rth, r.what_to_show, r.keep_up_to_date)


def _tick_type(r: HistoricalRequest) -> tuple[object, ...]:
    """IB's "same contract, exchange and tick type" key of the 2-second burst rule."""
    return (r.con_id, r.exchange, r.what_to_show)
