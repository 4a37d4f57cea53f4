"""Backfill against gateways that behave differently from the friendliest one, as real ones (and other
fakes) may: start-up requests or reqHeadTimeStamp left unanswered, head timestamps paced like historical
requests, sockets reset in the middle of a request, restarts, and several mdtool processes in a row."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from mdtool.adapters.ibkr import HistoryOptions, IbkrBarSource
from mdtool.adapters.ibkr.pacing import PacingRules
from mdtool.records import Bar
from tests.adapters.ibkr.conftest import make_source
from tests.fakes.ib_gateway import FakeIBGateway
from tests.fakes.ib_gateway import PacingRules as GatewayPacing

START_UP = {61, 5, 99, 6, 76, 7}  # positions, orders, completed orders, account updates, executions
FOUR_HOURS = (datetime(2026, 1, 6, 10, 0, tzinfo=UTC), datetime(2026, 1, 6, 14, 0, tzinfo=UTC))


def collect(source: IbkrBarSource, symbol: str, interval: str, start: datetime, end: datetime) -> list[Bar]:
    return [bar for page in source.fetch_bars(symbol, interval, start, end) for bar in page]


def test_a_gateway_that_answers_only_the_handshake_is_enough(gateway: FakeIBGateway) -> None:
    """A minimal gateway answers no start-up request; connecting must not wait for any of them."""
    gateway.ignore = set(START_UP)
    source = make_source(gateway, connect_timeout=3.0)
    started = time.monotonic()
    try:
        assert source.resolve_symbol("AAPL") == "AAPL"
        assert len(collect(source, "AAPL", "1h", *FOUR_HOURS)) == 4
    finally:
        source.close()
    assert time.monotonic() - started < 1.5
    assert not {int(fields[0]) for _, fields in gateway.received} & START_UP


def test_an_unanswered_head_timestamp_falls_back_quickly(gateway: FakeIBGateway) -> None:
    gateway.ignore = {87}
    source = make_source(gateway, head_timeout=0.3)
    started = time.monotonic()
    try:
        bars = collect(
            source, "AAPL", "1d", datetime(2015, 1, 1, tzinfo=UTC), datetime(2020, 1, 11, tzinfo=UTC)
        )
    finally:
        source.close()
    assert [b.timestamp for b in bars] == [datetime(2020, 1, d, tzinfo=UTC) for d in range(1, 11)]
    assert time.monotonic() - started < 2
    assert any(fields[0] == "87" for _, fields in gateway.received)


def test_the_default_head_timeout_is_short() -> None:
    assert HistoryOptions().head_timeout <= 3


def test_head_timestamp_requests_count_toward_pacing(gateway: FakeIBGateway) -> None:
    """A gateway may count reqHeadTimeStamp as a historical request: head + 5 at once is six in 2 s."""
    gateway.pace_head_timestamps = True
    gateway.pacing = GatewayPacing(0.3, 1.0, 5, 12.0, 60)  # a burst window longer than five answers take
    source = make_source(gateway, pacing=PacingRules(0.3, 1.0, 5, 12.0, 60, margin_seconds=0.01))
    try:
        start = datetime(2026, 1, 6, 11, 0, tzinfo=UTC)
        bars = collect(source, "AAPL", "1s", start, start + timedelta(minutes=150))  # five requests
    finally:
        source.close()
    assert len(bars) == 150 * 60
    assert gateway.violations == []
    assert gateway.historical_requests[0].end == "head"


def test_a_socket_reset_during_qualification_reconnects(gateway: FakeIBGateway) -> None:
    gateway.drop_on_next(9)
    source = make_source(gateway)
    try:
        assert source.resolve_symbol("AAPL") == "AAPL"
    finally:
        source.close()
    assert gateway.connections_total == 2


def test_a_socket_reset_during_the_head_lookup_still_backfills(gateway: FakeIBGateway) -> None:
    gateway.drop_on_next(87)
    source = make_source(gateway)
    try:
        bars = collect(
            source, "AAPL", "1d", datetime(2015, 1, 1, tzinfo=UTC), datetime(2020, 1, 11, tzinfo=UTC)
        )
    finally:
        source.close()
    assert len(bars) == 10
    assert gateway.connections_total == 2


def test_a_gateway_restart_mid_backfill_is_waited_for(gateway: FakeIBGateway) -> None:
    source = make_source(gateway)
    try:
        pages = source.fetch_bars(
            "AAPL", "1m", datetime(2026, 1, 4, 15, 0, tzinfo=UTC), datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
        )
        first = next(pages)
        gateway.stop_listening()
        threading.Timer(0.3, gateway.start_listening).start()
        rest = [bar for page in pages for bar in page]
    finally:
        source.close()
    assert len(first) + len(rest) == 2 * 24 * 60


def test_back_to_back_runs_share_the_pacing_history(gateway: FakeIBGateway) -> None:
    """IB paces the gateway, not the process: a re-run right after a run must not repeat its requests
    within the identical-request window (cron jobs, gap repair, --refetch)."""
    for _run in range(2):
        source = make_source(gateway)
        try:
            assert len(collect(source, "AAPL", "1h", *FOUR_HOURS)) == 4
        finally:
            source.close()
    first, second = gateway.historical_requests
    assert second.received_at - first.received_at >= gateway.pacing.identical_seconds
    assert gateway.violations == []


def test_a_head_lookup_that_pacing_would_delay_is_skipped(gateway: FakeIBGateway) -> None:
    """The head timestamp only saves requests: a re-run must not wait out the identical-request window
    (or risk a violation) for it."""
    gateway.pace_head_timestamps = True
    span = (datetime(2015, 1, 1, tzinfo=UTC), datetime(2020, 1, 11, tzinfo=UTC))
    for _run in range(2):
        source = make_source(gateway)
        try:
            assert len(collect(source, "AAPL", "1d", *span)) == 10
        finally:
            source.close()
    assert sum(fields[0] == "87" for _, fields in gateway.received) == 1
    assert gateway.violations == []
