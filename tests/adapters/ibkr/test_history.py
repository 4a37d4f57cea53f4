"""Backfill through the real ib_async against the fake gateway: planning, pacing, errors, records."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mdtool.adapters.ibkr import ContractSpec, Endpoint, HistoryOptions, IbkrBarSource
from mdtool.errors import ExchangeError, UsageError
from tests.adapters.ibkr.conftest import NOW, client_pacing, gateway_pacing, make_source
from tests.fakes.ib_gateway import FakeIBGateway

from .conftest import CONTRACTS

FOUR_HOURS = (datetime(2026, 1, 6, 10, 0, tzinfo=UTC), datetime(2026, 1, 6, 14, 0, tzinfo=UTC))


def collect(source: IbkrBarSource, symbol: str, interval: str, start: datetime, end: datetime) -> list:
    return [bar for page in source.fetch_bars(symbol, interval, start, end) for bar in page]


def test_resolve_symbol_qualifies_through_contract_details(source: IbkrBarSource) -> None:
    assert source.resolve_symbol("aapl") == "AAPL"
    assert source.request_count == 1


def test_unknown_contract_is_a_usage_error_with_ibs_message(source: IbkrBarSource) -> None:
    with pytest.raises(UsageError, match="No security definition has been found"):
        source.resolve_symbol("NOPE")


def test_ambiguous_contract_lists_the_candidates(source: IbkrBarSource) -> None:
    with pytest.raises(UsageError, match=r"ambiguous \(2 contracts\).*NYSE.*ARCA"):
        source.resolve_symbol("DUAL")


def test_intervals_ib_cannot_serve_are_usage_errors(source: IbkrBarSource) -> None:
    source.check_interval("1m")
    with pytest.raises(UsageError, match="IB has no 6h bars"):
        source.check_interval("6h")


def test_multi_request_backfill_across_duration_limits(gateway: FakeIBGateway, source: IbkrBarSource) -> None:
    start = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
    bars = collect(source, "AAPL", "1m", start, NOW)
    expected = int((datetime(2026, 1, 6, 15, 0, tzinfo=UTC) - start).total_seconds() // 60)
    assert [b.timestamp for b in bars] == [start + timedelta(minutes=i) for i in range(expected)]
    assert {b.exchange for b in bars} == {"ibkr"} and {b.symbol for b in bars} == {"AAPL"}
    requests = gateway.historical_requests
    assert [r.duration for r in requests] == ["1 D", "1 D", "1 D", "10830 S"]
    assert {(r.bar_size, r.what_to_show, r.format_date, r.use_rth) for r in requests} == {
        ("1 min", "TRADES", 2, True)
    }
    assert requests[-1].end == "20260106 15:00:30 UTC"  # clamped to now; the 15:00 bar is not closed
    assert source.request_count == 1 + 4


def test_bar_values_are_exact_decimals(source: IbkrBarSource) -> None:
    (bar,) = collect(
        source, "AAPL", "1m", datetime(2026, 1, 6, 14, 0, tzinfo=UTC), datetime(2026, 1, 6, 14, 1, tzinfo=UTC)
    )
    step = int(bar.timestamp.timestamp()) // 60
    base = Decimal("100") + Decimal(step % 97) / 100
    assert (bar.open, bar.high, bar.low, bar.close) == (
        base,
        base + Decimal("0.5"),
        base - Decimal("0.25"),
        base + Decimal("0.1"),
    )
    assert bar.volume == 100 + step % 13 and bar.trade_count == step % 7 + 1


def test_many_small_requests_respect_every_pacing_rule(gateway: FakeIBGateway) -> None:
    """1-second bars over 4 hours: 8 requests for one contract, over the burst limit and the window."""
    gateway.pacing = gateway_pacing(window_max=6, window_seconds=1.5)
    source = make_source(gateway, pacing=client_pacing(window_max=6, window_seconds=1.5))
    try:
        start = datetime(2026, 1, 6, 11, 0, tzinfo=UTC)
        bars = collect(source, "AAPL", "1s", start, start + timedelta(hours=4))
    finally:
        source.close()
    assert len(bars) == 4 * 3600
    requests = gateway.historical_requests
    assert len(requests) == 8
    assert requests[6].received_at - requests[0].received_at >= 1.5  # the 10-minute window, scaled
    assert gateway.violations == []


def test_pacing_violation_162_backs_off_and_retries(gateway: FakeIBGateway, source: IbkrBarSource) -> None:
    gateway.fail_next_historical(times=2)
    bars = collect(
        source, "AAPL", "1h", datetime(2026, 1, 6, 10, 0, tzinfo=UTC), datetime(2026, 1, 6, 14, 0, tzinfo=UTC)
    )
    assert len(bars) == 4
    first, second, third = gateway.historical_requests
    assert first.duration == second.duration == third.duration
    assert third.received_at - second.received_at >= gateway.pacing.identical_seconds


def test_other_historical_errors_are_not_mistaken_for_no_data(
    gateway: FakeIBGateway, source: IbkrBarSource
) -> None:
    gateway.fail_next_historical(
        162, "Historical Market Data Service error message:No market data permissions for NYSE STK"
    )
    with pytest.raises(ExchangeError, match="No market data permissions"):
        collect(
            source,
            "AAPL",
            "1h",
            datetime(2026, 1, 6, 10, 0, tzinfo=UTC),
            datetime(2026, 1, 6, 14, 0, tzinfo=UTC),
        )


def test_span_before_the_history_start_is_no_data(gateway: FakeIBGateway, source: IbkrBarSource) -> None:
    start = datetime(2019, 12, 31, 20, 0, tzinfo=UTC)
    assert collect(source, "AAPL", "1h", start, start + timedelta(hours=3)) == []
    assert len(gateway.historical_requests) == 1


def test_long_span_starts_at_ibs_head_timestamp(gateway: FakeIBGateway, source: IbkrBarSource) -> None:
    bars = collect(source, "AAPL", "1d", datetime(2015, 1, 1, tzinfo=UTC), datetime(2020, 1, 11, tzinfo=UTC))
    assert [b.timestamp for b in bars] == [datetime(2020, 1, d, tzinfo=UTC) for d in range(1, 11)]
    assert [r.duration for r in gateway.historical_requests] == ["10 D"]


def test_forex_uses_midpoint_and_idealpro(gateway: FakeIBGateway) -> None:
    source = make_source(gateway, ContractSpec(sec_type="CASH"))
    try:
        assert source.resolve_symbol("EURUSD") == "EUR.USD"
        bars = collect(
            source, "EURUSD", "1d", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)
        )
    finally:
        source.close()
    assert [b.timestamp.day for b in bars] == [1, 2, 3, 4, 5]
    assert {b.volume for b in bars} == {Decimal(0)} and {b.trade_count for b in bars} == {None}
    assert {(r.what_to_show, r.exchange) for r in gateway.historical_requests} == {("MIDPOINT", "IDEALPRO")}


def test_future_by_expiry(gateway: FakeIBGateway) -> None:
    source = make_source(gateway, ContractSpec(sec_type="FUT", exchange="CME", expiry="202603"))
    try:
        assert source.resolve_symbol("ES") == "ESH6"
    finally:
        source.close()


def test_gateway_down_is_retried_then_a_clear_exchange_error(caplog: pytest.LogCaptureFixture) -> None:
    with FakeIBGateway(CONTRACTS) as fake:
        port = fake.port
    options = HistoryOptions(connect_timeout=2, connect_patience=1.5)
    source = IbkrBarSource(Endpoint("127.0.0.1", port, 1), ContractSpec(), options)
    started = time.monotonic()
    try:
        with pytest.raises(
            ExchangeError, match=rf"cannot connect to IB Gateway/TWS at 127.0.0.1:{port}.*after 2 attempts"
        ):
            source.resolve_symbol("AAPL")
    finally:
        source.close()
    assert time.monotonic() - started < 3
    assert any("retrying in 1 s" in r.getMessage() for r in caplog.records)


def test_gateway_starting_late_is_waited_for(gateway: FakeIBGateway) -> None:
    gateway.stop_listening()
    threading.Timer(0.3, gateway.start_listening).start()
    source = make_source(gateway)
    try:
        assert source.resolve_symbol("AAPL") == "AAPL"
    finally:
        source.close()


def test_dropped_connection_mid_backfill_reconnects(gateway: FakeIBGateway, source: IbkrBarSource) -> None:
    pages = source.fetch_bars(
        "AAPL", "1m", datetime(2026, 1, 4, 15, 0, tzinfo=UTC), datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
    )
    first = next(pages)
    gateway.drop_connections()
    rest = [bar for page in pages for bar in page]
    assert len(first) + len(rest) == 2 * 24 * 60
    assert gateway.connections_total == 2


def test_error_321_fails_at_once_although_ib_async_calls_it_a_warning(gateway: FakeIBGateway) -> None:
    """ib_async keeps waiting after a 321; the backfill must not sit out the whole request timeout."""
    gateway.fail_next_historical(
        321, "Error validating request:-'bP' : cause - Historical data bar size setting is invalid."
    )
    source = make_source(gateway, request_timeout=30)
    started = time.monotonic()
    try:
        with pytest.raises(ExchangeError, match=r"IB error 321: Error validating request"):
            collect(source, "AAPL", "1h", *FOUR_HOURS)
    finally:
        source.close()
    assert time.monotonic() - started < 2


def test_a_request_ib_never_answers_times_out_with_ibs_last_messages(gateway: FakeIBGateway) -> None:
    """An empty result after the timeout must not pass for "no data"."""
    gateway.ignore = {20}
    source = make_source(gateway, request_timeout=0.5)
    try:
        with pytest.raises(ExchangeError, match=r"no answer .* within 0.5 s"):
            collect(source, "AAPL", "1h", *FOUR_HOURS)
    finally:
        source.close()


def test_a_client_id_in_use_moves_on_to_the_next_one(
    gateway: FakeIBGateway, source: IbkrBarSource, caplog: pytest.LogCaptureFixture
) -> None:
    """A stream holding IBKR_CLIENT_ID must not stop a cron backfill; IB refuses the id with 326."""
    source.resolve_symbol("AAPL")  # holds client id 11
    second = make_source(gateway, connect_timeout=5)
    started = time.monotonic()
    try:
        assert second.resolve_symbol("AAPL") == "AAPL"
    finally:
        second.close()
    assert time.monotonic() - started < 1  # not ib_async's handshake timeout
    assert [fields[2] for _, fields in gateway.received if fields[0] == "71"] == ["11", "11", "12"]
    assert "client id 11 is in use" in caplog.text


def test_client_ids_all_in_use_are_reported_with_ibs_reason(gateway: FakeIBGateway) -> None:
    holders = [
        IbkrBarSource(Endpoint("127.0.0.1", gateway.port, cid), ContractSpec(), HistoryOptions())
        for cid in range(11, 17)
    ]
    try:
        for holder in holders:
            holder.resolve_symbol("AAPL")
        late = make_source(gateway, connect_patience=0)
        try:
            with pytest.raises(ExchangeError, match=r"client id 16: IB error 326: .*already in use"):
                late.resolve_symbol("AAPL")
        finally:
            late.close()
    finally:
        for holder in holders:
            holder.close()
