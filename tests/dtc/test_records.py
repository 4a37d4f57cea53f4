"""Bulk record encoding equals the generic codec byte for byte, in every encoding."""

from __future__ import annotations

import pytest

from mdtool.dtc import messages as m
from mdtool.dtc.codec import Decoder, encode_batch
from mdtool.dtc.errors import LocalProtocolError
from mdtool.dtc.records import RecordEncoder

ENCODINGS = [m.BINARY_ENCODING, m.JSON_ENCODING, m.JSON_COMPACT_ENCODING]
BARS = [
    (1_700_000_000, 100.25, 101.5, 99.0, 100.75, 12.5, 7, 4.5, 8.0),
    (1_700_000_060, 100.75, 102.0, 100.0, 101.0, 0.001, 0, 0.0, 0.0),
    (1_700_000_120, 1e-8, 1e9, 1e-8, 3.14159, 1e12, 4_294_967_295, 0.0, 1e12),
]
TICKS = [(1_700_000_000.123456, m.AT_ASK, 42000.01, 0.5), (1_700_000_000.5, m.AT_BID, 41999.99, 2.0)]


def bar_messages(request_id: int, final: bool) -> list[m.Message]:
    out: list[m.Message] = [m.HistoricalPriceDataRecordResponse(request_id, *row) for row in BARS]
    if final:
        out[-1] = m.HistoricalPriceDataRecordResponse(request_id, *BARS[-1], IsFinalRecord=1)
    return out


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("final", [False, True])
def test_bars_equal_the_generic_encoding(encoding: int, final: bool) -> None:
    encoder = RecordEncoder(42, ticks=False, encoding=encoding)
    expected = encode_batch(bar_messages(42, final), encoding)
    assert encoder.encode(BARS, final) == expected


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_ticks_equal_the_generic_encoding_and_decode_back(encoding: int) -> None:
    encoder = RecordEncoder(7, ticks=True, encoding=encoding)
    messages = [
        m.HistoricalPriceDataTickRecordResponse(7, *TICKS[0]),
        m.HistoricalPriceDataTickRecordResponse(7, *TICKS[1], IsFinalRecord=1),
    ]
    data = encoder.encode(TICKS, final=True)
    assert data == encode_batch(messages, encoding)
    decoder = Decoder(encoding)
    decoder.feed(data)
    assert list(decoder) == messages


def test_nothing_to_encode() -> None:
    assert RecordEncoder(1, ticks=False, encoding=m.BINARY_ENCODING).encode([], final=True) == b""


@pytest.mark.parametrize("encoding", [m.JSON_ENCODING, m.JSON_COMPACT_ENCODING])
def test_a_value_json_cannot_carry_is_our_error_not_the_peers(encoding: int) -> None:
    encoder = RecordEncoder(1, ticks=False, encoding=encoding)
    bad = (1_700_000_000, float("nan"), 1.0, 1.0, 1.0, 1.0, 1, 0.0, 0.0)
    with pytest.raises(LocalProtocolError, match="non-finite"):
        encoder.encode([bad], final=True)


def test_a_count_beyond_uint32_is_our_error() -> None:
    encoder = RecordEncoder(1, ticks=False, encoding=m.BINARY_ENCODING)
    with pytest.raises(LocalProtocolError):
        encoder.encode([(0, 1.0, 1.0, 1.0, 1.0, 1.0, 2**32, 0.0, 0.0)], final=False)
