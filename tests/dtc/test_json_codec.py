"""JSON (2) and compact JSON (3): NUL-terminated objects with the struct field names."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdtool.dtc import messages as m
from mdtool.dtc.codec import Decoder, TradeValues, encode, encode_batch, encode_trades
from mdtool.dtc.errors import LocalProtocolError
from mdtool.dtc.json_codec import decode_json
from mdtool.errors import ProtocolError

TRADE = m.MarketDataUpdateTrade(SymbolID=1, AtBidOrAsk=2, Price=5000.25, Volume=3.0, DateTime=1700000000.5)


def parse(data: bytes) -> dict[str, object]:
    assert data.endswith(b"\0")
    assert b"\0" not in data[:-1]
    document = json.loads(data[:-1])
    assert isinstance(document, dict)
    return document


def test_json_uses_struct_names_with_type_first() -> None:
    data = encode(TRADE, m.JSON_ENCODING)
    assert data.startswith(b'{"Type":107,')
    assert parse(data) == {
        "Type": 107,
        "SymbolID": 1,
        "AtBidOrAsk": 2,
        "Price": 5000.25,
        "Volume": 3.0,
        "DateTime": 1700000000.5,
    }


def test_compact_json_puts_fields_in_struct_order() -> None:
    assert parse(encode(TRADE, m.JSON_COMPACT_ENCODING)) == {
        "Type": 107,
        "F": [1, 2, 5000.25, 3.0, 1700000000.5],
    }
    assert parse(encode(m.Heartbeat(0, 1700000000), m.JSON_COMPACT_ENCODING)) == {
        "Type": 3,
        "F": [0, 1700000000],
    }
    compact_trade = m.MarketDataUpdateTradeCompact(
        Price=1.5, Volume=2.0, DateTime=9, SymbolID=4, AtBidOrAsk=1
    )
    assert parse(encode(compact_trade, m.JSON_COMPACT_ENCODING))["F"] == [1.5, 2.0, 9, 4, 1]


def test_compact_json_leaves_other_types_as_normal_json() -> None:
    reply = m.LogonResponse(ResultText="ok")
    document = parse(encode(reply, m.JSON_COMPACT_ENCODING))
    assert document["ResultText"] == "ok"
    assert document["MarketDataSupported"] == 1
    assert "F" not in document


def test_unset_sentinels_travel_as_null_and_come_back() -> None:
    snapshot = m.MarketDataSnapshot(SymbolID=3, LastTradePrice=10.5)
    document = parse(encode(snapshot, m.JSON_ENCODING))
    assert document["BidPrice"] is None
    assert document["SessionNumTrades"] is None
    assert document["LastTradePrice"] == 10.5
    for encoding in (m.JSON_ENCODING, m.JSON_COMPACT_ENCODING):
        decoder = Decoder(encoding)
        decoder.feed(encode(snapshot, encoding))
        assert list(decoder) == [snapshot]


@pytest.mark.parametrize("encoding", [m.JSON_ENCODING, m.JSON_COMPACT_ENCODING])
def test_round_trip_of_every_message_one_byte_at_a_time(encoding: int) -> None:
    messages: list[m.Message] = [cls() for cls in m.MESSAGE_CLASSES]
    messages += [TRADE, m.LogonRequest(Username="u", HeartbeatIntervalInSeconds=5, ClientName="c")]
    stream = encode_batch(messages, encoding)
    decoder = Decoder(encoding)
    received: list[m.Message] = []
    for i in range(len(stream)):
        decoder.feed(stream[i : i + 1])
        received.extend(decoder)
    assert received == messages
    decoder.close()


def test_missing_fields_take_defaults_and_unknown_names_are_ignored() -> None:
    decoder = Decoder(m.JSON_ENCODING)
    decoder.feed(b'{"Type":1,"ProtocolVersion":8,"HeartbeatIntervalInSeconds":10,"ClientName":"x","New":1}\0')
    assert decoder.next() == m.LogonRequest(HeartbeatIntervalInSeconds=10, ClientName="x")


def test_observed_sierra_chart_client_messages_decode() -> None:
    decoder = Decoder(m.JSON_ENCODING)
    decoder.feed(b'{"Type":101,"RequestAction":1,"SymbolID":1,"Symbol":"BTCUSDT","Exchange":"binance"}\0')
    decoder.feed(b'{"Type":3,"F":[0,1700000000]}\0')
    assert list(decoder) == [
        m.MarketDataRequest(RequestAction=1, SymbolID=1, Symbol="BTCUSDT", Exchange="binance"),
        m.Heartbeat(0, 1700000000),
    ]


def test_unknown_json_types_and_blank_objects_are_skipped() -> None:
    decoder = Decoder(m.JSON_ENCODING)
    decoder.feed(b'{"Type":10001,"X":1}\0\n\0{"Type":3}\0')
    assert list(decoder) == [m.Heartbeat()]
    assert decoder.skipped == 2


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[1,2]", b'{"NoType":1}', b'{"Type":"3"}', b'{"Type":3,"NumDroppedMessages":"x"}'],
)
def test_malformed_json_is_a_protocol_error(payload: bytes) -> None:
    decoder = Decoder(m.JSON_ENCODING)
    decoder.feed(payload + b"\0")
    with pytest.raises(ProtocolError):
        decoder.next()


def test_oversized_and_truncated_json() -> None:
    decoder = Decoder(m.JSON_ENCODING, max_json_message=100)
    decoder.feed(b'{"Type":3,' + b" " * 200)
    with pytest.raises(ProtocolError, match="longer than"):
        decoder.next()
    truncated = Decoder(m.JSON_ENCODING)
    truncated.feed(b'{"Type":3,')
    assert truncated.next() is None
    with pytest.raises(ProtocolError):
        truncated.close()


def test_encoding_switch_between_two_messages_of_one_chunk() -> None:
    """ENCODING_REQUEST is binary; what follows it in the same chunk is already JSON."""
    decoder = Decoder()
    decoder.feed(encode(m.EncodingRequest(Encoding=m.JSON_ENCODING), m.BINARY_ENCODING) + b'{"Type":3}\0')
    assert decoder.next() == m.EncodingRequest(Encoding=m.JSON_ENCODING)
    decoder.set_encoding(m.JSON_ENCODING)
    assert decoder.next() == m.Heartbeat()


def test_non_ascii_text_is_escaped_to_8_bit_safe_json() -> None:
    data = encode(m.Logoff(Reason="caf\u00e9"), m.JSON_ENCODING)
    assert max(data) < 128
    decoder = Decoder(m.JSON_ENCODING)
    decoder.feed(data)
    assert decoder.next() == m.Logoff(Reason="caf\u00e9")


finite = st.floats(allow_nan=False, allow_infinity=False)
trade_values = st.tuples(
    st.integers(0, 2**32 - 1), st.integers(0, 2), finite, finite, st.floats(0, 4e9, allow_nan=False)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(trade_values, max_size=5), st.sampled_from([m.JSON_ENCODING, m.JSON_COMPACT_ENCODING]))
def test_fast_trade_encoding_equals_the_generic_one(trades: list[TradeValues], encoding: int) -> None:
    generic = encode_batch([m.MarketDataUpdateTrade(*t) for t in trades], encoding)
    assert encode_trades(trades, encoding) == generic
    decoder = Decoder(encoding)
    decoder.feed(generic)
    assert list(decoder) == [m.MarketDataUpdateTrade(*t) for t in trades]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_values_are_not_json(bad: float) -> None:
    for encoding in (m.JSON_ENCODING, m.JSON_COMPACT_ENCODING):
        with pytest.raises(LocalProtocolError):
            encode_trades([(1, 0, bad, 1.0, 1.0)], encoding)
        with pytest.raises(LocalProtocolError):
            encode(m.MarketDataUpdateTrade(Price=bad), encoding)


def test_json_strings_end_at_the_first_nul_as_in_binary() -> None:
    decoded = decode_json(b'{"Type":506,"RequestID":1,"Symbol":"BTCUSDT\\u0000junk"}')
    assert isinstance(decoded, m.SecurityDefinitionForSymbolRequest)
    assert decoded.Symbol == "BTCUSDT"


def test_json_numbers_must_fit_their_binary_field() -> None:
    with pytest.raises(ProtocolError, match="out of range"):
        decode_json(b'{"Type":800,"RequestID":2147483648}')
    with pytest.raises(ProtocolError, match="out of range"):
        decode_json(b'{"Type":101,"SymbolID":-1}')
