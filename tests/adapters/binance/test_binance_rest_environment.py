"""The REST client reads the proxy and CA settings from the environment once, and still obeys them."""

from __future__ import annotations

from contextlib import closing

import pytest

from mdtool.adapters.binance.rest import BinanceRest, BinanceUnavailable
from tests.fakes.binance import FakeBinance
from tests.pg_cluster import free_port

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")


@pytest.fixture
def clean_proxies(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES + NO_PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_proxy_from_the_environment_is_used(fake: FakeBinance, clean_proxies: pytest.MonkeyPatch) -> None:
    clean_proxies.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    rest = BinanceRest(fake.base_url, timeout=5, max_retries=1, backoff=0.01)
    with closing(rest), pytest.raises(BinanceUnavailable):
        rest.resolve_symbol("BTCUSDT")
    assert fake.request_count() == 0


def test_no_proxy_from_the_environment_is_obeyed(
    fake: FakeBinance, clean_proxies: pytest.MonkeyPatch
) -> None:
    clean_proxies.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    clean_proxies.setenv("NO_PROXY", "127.0.0.1")
    with closing(BinanceRest(fake.base_url, timeout=5)) as rest:
        assert rest.resolve_symbol("btcusdt") == "BTCUSDT"
        rest.klines("BTCUSDT", "1m", 1_735_689_600_000, 1_735_689_660_000, 1)
    assert fake.request_count("/api/v3/klines") == 1


def test_a_ca_bundle_from_the_environment_is_kept(
    fake: FakeBinance, clean_proxies: pytest.MonkeyPatch
) -> None:
    clean_proxies.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    with closing(BinanceRest(fake.base_url, timeout=5)) as rest:
        rest.resolve_symbol("BTCUSDT")
        assert [spot.session.verify for spot in rest._idle] == ["/etc/ssl/certs/ca-certificates.crt"]
