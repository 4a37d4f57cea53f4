"""Symbol selection and sharding: pure rules, no venue."""

import contextlib
from collections import Counter

import pytest

from mdtool.errors import UsageError
from mdtool.selection import ListedSymbol, Selection, Shard, shard_bucket

LISTING = [
    ListedSymbol("BTCUSDT", "USDT", True),
    ListedSymbol("ETHUSDT", "USDT", True),
    ListedSymbol("BTCEUR", "EUR", True),
    ListedSymbol("ETHBTC", "BTC", True),
    ListedSymbol("LUNAUSDT", "USDT", False),
]


@pytest.mark.parametrize("text", ["x", "3/2", "0/2", "1/0", "1-2", "", "/2", "1/", "-1/2", "1/2/3"])
def test_bad_shards_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        Shard.parse(text)


def test_shards_split_a_market_with_no_overlap_and_nothing_left_out() -> None:
    symbols = [f"SYM{i}USDT" for i in range(2000)]
    owners = Counter()
    for symbol in symbols:
        owning = [i for i in range(1, 5) if Shard(i, 4).owns(symbol)]
        assert len(owning) == 1
        owners[owning[0]] += 1
    assert all(350 < count < 650 for count in owners.values())


def test_the_bucket_is_a_stable_hash_not_a_position() -> None:
    assert shard_bucket("BTCUSDT", 7) == shard_bucket("btcusdt", 7)
    assert [shard_bucket("BTCUSDT", n) for n in (2, 3, 5)] == [
        shard_bucket("BTCUSDT", 2), shard_bucket("BTCUSDT", 3), shard_bucket("BTCUSDT", 5),
    ]  # fmt: skip
    assert shard_bucket("BTCUSDT", 1_000_003) == 200_627  # pinned: hosts on other versions must agree


def test_all_selects_trading_symbols_only() -> None:
    assert Selection.from_arguments([], every_listed=True).resolve(LISTING) == [
        "BTCEUR", "BTCUSDT", "ETHBTC", "ETHUSDT",
    ]  # fmt: skip


def test_quote_and_patterns_narrow() -> None:
    assert Selection.from_arguments([], quote="usdt").resolve(LISTING) == ["BTCUSDT", "ETHUSDT"]
    assert Selection.from_arguments(["BTC*"]).resolve(LISTING) == ["BTCEUR", "BTCUSDT"]
    assert Selection.from_arguments(["BTC*", "*BTC"], quote="EUR").resolve(LISTING) == ["BTCEUR"]


def test_explicit_symbols_are_kept_and_unknown_ones_refused() -> None:
    assert Selection.from_arguments(["lunausdt", "ETH*"]).resolve(LISTING) == [
        "ETHBTC",
        "ETHUSDT",
        "LUNAUSDT",
    ]
    with pytest.raises(UsageError, match="unknown symbol: NOPE"):
        Selection.from_arguments(["NOPE"]).resolve(LISTING)


def test_an_empty_selection_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="matches no symbol"):
        Selection.from_arguments(["XRP*"]).resolve(LISTING)
    with pytest.raises(UsageError, match="at least one symbol"):
        Selection.from_arguments([])


def test_shards_of_a_selection_union_to_the_selection() -> None:
    whole = Selection.from_arguments([], every_listed=True).resolve(LISTING)
    parts: list[str] = []
    for index in (1, 2):
        with contextlib.suppress(UsageError):
            parts += Selection.from_arguments([], every_listed=True, shard=f"{index}/2").resolve(LISTING)
    assert sorted(parts) == whole
