"""Historical bars: IB's bar sizes and step-size table, deterministic bars on IB's grid, replies.

The in-progress bar is included as IB does (the end is capped at the fake's now), MIDPOINT/BID/ASK bars
carry -1 volume, WAP and count, and durations longer than the step table allows get error 162.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.fakes.ib_gateway.contracts import FakeContract
from tests.fakes.ib_gateway.pacing import HistoricalRequest
from tests.fakes.ib_gateway.wire import encode, error

NO_DATA_TEXT = "Historical Market Data Service error message:HMDS query returned no data: {sym}@{exch} {what}"
TOO_LONG_TEXT = "Historical Market Data Service error message:Time length exceed max."
BAD_BAR_SIZE_TEXT = "Error validating request:-'bP' : cause - Historical data bar size setting is invalid."

BarMaker = Callable[[FakeContract, datetime, int], tuple[str, ...]]

BAR_SECONDS: dict[str, int] = {
    "1 secs": 1, "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30,
    "1 min": 60, "2 mins": 120, "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900,
    "20 mins": 1200, "30 mins": 1800, "1 hour": 3600, "2 hours": 7200, "3 hours": 10800,
    "4 hours": 14400, "8 hours": 28800, "1 day": 86400, "1 week": 604800, "1 month": 2678400,
}  # fmt: skip
DURATION_UNIT_SECONDS = {"S": 1, "D": 86400, "W": 604800, "M": 2592000, "Y": 31536000}
# IB's step-size table: (longest duration in seconds, smallest bar, largest bar) in seconds.
STEP_TABLE: tuple[tuple[int, int, int], ...] = (
    (60, 1, 60), (120, 1, 120), (1800, 1, 1800), (3600, 5, 3600), (14400, 10, 10800),
    (28800, 30, 28800), (86400, 60, 86400), (172800, 120, 86400), (604800, 180, 604800),
    (2592000, 1800, 2678400), (31536000, 86400, 2678400),
)  # fmt: skip


def default_bar(contract: FakeContract, opened: datetime, seconds: int) -> tuple[str, ...]:
    """Deterministic OHLCV for a bar: open, high, low, close, volume, WAP, count as wire strings."""
    step = int(opened.timestamp()) // max(seconds, 1)
    base = contract.base_price + Decimal(step % 97) / 100
    high, low, close = base + Decimal("0.50"), base - Decimal("0.25"), base + Decimal("0.10")
    volume = 100 + step % 13
    return (
        str(base),
        str(high),
        str(low),
        str(close),
        str(volume),
        str(base + Decimal("0.05")),
        str(step % 7 + 1),
    )


def parse_request(fields: list[str], con_id: int, received_at: float, session: int) -> HistoricalRequest:
    """reqHistoricalData: [20, reqId, contract12, includeExpired, end, barSize, duration, useRTH, what,
    formatDate, keepUpToDate, chartOptions]."""
    return HistoricalRequest(
        req_id=int(fields[1]), con_id=con_id, symbol=fields[3], exchange=fields[9], end=fields[15],
        bar_size=fields[16], duration=fields[17], use_rth=fields[18] == "1", what_to_show=fields[19],
        format_date=int(fields[20] or 1), keep_up_to_date=fields[21] == "1", received_at=received_at,
        session=session,
    )  # fmt: skip


def answer(
    contract: FakeContract, request: HistoricalRequest, now: datetime, history_start: datetime, bar: BarMaker
) -> bytes:
    """The bars (message 17) for a request that passed pacing, or IB's error for it."""
    req_id = request.req_id
    if request.bar_size not in BAR_SECONDS:
        return error(req_id, 321, BAD_BAR_SIZE_TEXT)
    span = duration_seconds(request.duration)
    if span is None or not step_allowed(span, BAR_SECONDS[request.bar_size]):
        return error(req_id, 162, TOO_LONG_TEXT)
    end = now if not request.end else parse_end(request.end)
    start = max(end - timedelta(seconds=span), history_start)
    rows = bar_rows(contract, request, start, min(end, now), bar)
    if not rows:
        text = NO_DATA_TEXT.format(
            sym=contract.symbol, exch=request.exchange, what=request.what_to_show.title()
        )
        return error(req_id, 162, text)
    stamp = end.strftime("%Y%m%d %H:%M:%S")
    return encode(17, req_id, stamp, stamp, len(rows), *[f for row in rows for f in row])


def bar_rows(
    contract: FakeContract, request: HistoricalRequest, start: datetime, end: datetime, bar: BarMaker
) -> list[tuple[str, ...]]:
    seconds = BAR_SECONDS[request.bar_size]
    rows: list[tuple[str, ...]] = []
    for opened in bar_opens(seconds, start, end):
        values = bar(contract, opened, seconds)
        if request.what_to_show in ("MIDPOINT", "BID", "ASK"):
            values = (*values[:4], "-1", "-1", "-1")
        if seconds >= 86400:
            label = opened.strftime("%Y%m%d")
        elif request.format_date == 2:
            label = str(int(opened.timestamp()))
        else:
            label = opened.strftime("%Y%m%d %H:%M:%S UTC")
        rows.append((label, *values))
    return rows


def duration_seconds(duration: str) -> int | None:
    count, _, unit = duration.strip().partition(" ")
    if not count.isdigit() or unit not in DURATION_UNIT_SECONDS:
        return None
    return int(count) * DURATION_UNIT_SECONDS[unit]


def step_allowed(span: int, bar: int) -> bool:
    """IB's step table: the first row at least as long as the span bounds the bar size."""
    for longest, smallest, largest in STEP_TABLE:
        if span <= longest:
            return smallest <= bar <= largest
    return bar >= 86400


def parse_end(text: str) -> datetime:
    """`YYYYMMDD HH:MM:SS UTC` (what ib_async sends for aware datetimes) or `YYYYMMDD-HH:MM:SS`."""
    body = text.removesuffix(" UTC").replace("-", " ")
    return datetime.strptime(body, "%Y%m%d %H:%M:%S").replace(tzinfo=UTC)


def bar_opens(seconds: int, start: datetime, end: datetime) -> list[datetime]:
    """Bar open times on IB's grid in [start, end); `end` is capped at now, so the in-progress bar is in."""
    if seconds == 2678400:
        current = datetime(start.year, start.month, 1, tzinfo=UTC)
        current = current if current >= start else _next_month(current)
    elif seconds == 604800:
        monday = datetime.combine(start.date() - timedelta(days=start.weekday()), datetime.min.time(), UTC)
        current = monday if monday >= start else monday + timedelta(weeks=1)
    else:
        current = datetime.fromtimestamp(-(-int(start.timestamp()) // seconds) * seconds, UTC)
    opens: list[datetime] = []
    while current < end:
        opens.append(current)
        current = _next_month(current) if seconds == 2678400 else current + timedelta(seconds=seconds)
    return opens


def _next_month(moment: datetime) -> datetime:
    return (moment.replace(day=28) + timedelta(days=4)).replace(day=1)
