"""Binary codec: byte-exact layouts from the reference, round trips, versioning and bad frames."""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import pytest

from mdtool.dtc import messages as m
from mdtool.dtc.codec import Decoder, decode_binary, encode, encode_batch, encode_binary, encode_trades
from mdtool.dtc.errors import LocalProtocolError
from mdtool.errors import ProtocolError
from tests.dtc.reference_layouts import LAYOUT_TABLE

CLASSES = {cls.__name__: cls for cls in m.MESSAGE_CLASSES}
LAYOUT_IDS = [entry[0] for entry in LAYOUT_TABLE]


def distinct_value(code: str, index: int) -> Any:
    """A value unlike any default, so that a field written at the wrong offset is noticed."""
    if code.endswith("s"):
        return f"v{index}"[: int(code[:-1]) - 1]
    return {
        "i": -(1000 + index),
        "I": 3_000_000_000 + index,
        "H": 40_000 + index,
        "h": -(index + 1),
        "B": 200 + index % 50,
        "b": -5,
        "q": -(2**40 + index),
        "d": 1234.5 + index,
        "f": 0.5 + index,
    }[code]


def sample(name: str) -> tuple[m.Message, list[tuple[str, int, str]]]:
    _, _, _, fields = next(entry for entry in LAYOUT_TABLE if entry[0] == name)
    values = {field: distinct_value(code, i) for i, (field, _, code) in enumerate(fields)}
    return CLASSES[name](**values), fields


def test_every_message_of_the_reference_is_implemented() -> None:
    assert set(LAYOUT_IDS) == set(CLASSES)


@pytest.mark.parametrize("name", LAYOUT_IDS)
def test_binary_layout_is_byte_exact(name: str) -> None:
    _, type_id, size, _ = next(entry for entry in LAYOUT_TABLE if entry[0] == name)
    message, fields = sample(name)
    data = encode_binary(message)
    assert len(data) == size
    assert struct.unpack_from("<HH", data) == (size, type_id)
    covered = set(range(4))
    for field, offset, code in fields:
        (raw,) = struct.unpack_from("<" + code, data, offset)
        expected = getattr(message, field)
        if code.endswith("s"):
            assert raw == expected.encode().ljust(int(code[:-1]), b"\0"), field
        else:
            assert raw == expected, field
        covered.update(range(offset, offset + struct.calcsize(code)))
    padding = [data[i] for i in range(size) if i not in covered]
    assert padding == [0] * len(padding), "padding must be zeroed"


@pytest.mark.parametrize("name", LAYOUT_IDS)
def test_binary_round_trip(name: str) -> None:
    message, _ = sample(name)
    assert decode_binary(encode_binary(message)) == message
    assert decode_binary(encode_binary(type(message)())) == type(message)()


def test_dataclass_fields_follow_struct_order() -> None:
    for name, _, _, fields in LAYOUT_TABLE:
        assert [f.name for f in dataclasses.fields(CLASSES[name])] == [f for f, _, _ in fields], name


def test_defaults_are_the_documented_unset_values() -> None:
    snapshot = encode_binary(m.MarketDataSnapshot())
    assert snapshot[8:16] == bytes.fromhex("ffffffffffffef7f")  # DBL_MAX
    assert snapshot[48:52] == b"\xff\xff\xff\xff"  # UINT_MAX
    bid_ask = encode_binary(m.MarketDataUpdateBidAskCompact())
    assert bid_ask[4:8] == bytes.fromhex("ffff7f7f")  # FLT_MAX
    assert encode_binary(m.EncodingRequest())[12:16] == b"DTC\0"
    response = encode_binary(m.LogonResponse())
    assert (response[239], response[247], response[252]) == (1, 1, 1)
    definition = m.SecurityDefinitionResponse()
    assert (definition.HasMarketDepthData, definition.DisplayPriceMultiplier) == (1, 1.0)
    assert definition.PriceDisplayFormat == -1


def test_wire_example_of_real_sierra_chart_encoding_response() -> None:
    expected = bytes.fromhex("1000070008000000020000004454 4300".replace(" ", ""))
    assert encode_binary(m.EncodingResponse(Encoding=m.JSON_ENCODING)) == expected
    request = bytes.fromhex("10000600080000000400000044544300")
    assert decode_binary(request) == m.EncodingRequest(Encoding=m.PROTOCOL_BUFFERS)


def test_strings_are_truncated_to_leave_the_nul_and_8_bit() -> None:
    data = encode_binary(m.MarketDataReject(SymbolID=1, RejectText="x" * 200))
    assert data[8:103] == b"x" * 95
    assert data[103] == 0
    assert decode_binary(data) == m.MarketDataReject(SymbolID=1, RejectText="x" * 95)
    accented = m.Logoff(Reason="caf\u00e9")
    assert decode_binary(encode_binary(accented)) == accented


def test_strings_stop_at_the_first_nul_whatever_follows() -> None:
    data = bytearray(encode_binary(m.MarketDataRequest(Symbol="BTCUSDT")))
    data[12 + 8 : 12 + 12] = b"junk"
    decoded = decode_binary(bytes(data))
    assert isinstance(decoded, m.MarketDataRequest)
    assert decoded.Symbol == "BTCUSDT"


def test_short_logon_request_from_2020_header_takes_defaults() -> None:
    full = encode_binary(m.LogonRequest(HeartbeatIntervalInSeconds=10, ClientName="old", Unused1=7))
    old = struct.pack("<H", 280) + full[2:280]
    decoded = decode_binary(old)
    assert decoded == m.LogonRequest(HeartbeatIntervalInSeconds=10, ClientName="old", Unused1=7)


def test_a_field_cut_in_the_middle_takes_its_default() -> None:
    full = encode_binary(m.Heartbeat(NumDroppedMessages=5, CurrentDateTime=1_700_000_000))
    decoded = decode_binary(struct.pack("<H", 12) + full[2:12])
    assert decoded == m.Heartbeat(NumDroppedMessages=5, CurrentDateTime=0)
    header_only = decode_binary(struct.pack("<HH", 4, m.MarketDataSnapshot.TYPE))
    assert header_only == m.MarketDataSnapshot()


def test_longer_message_from_newer_peer_is_accepted() -> None:
    full = encode_binary(m.Heartbeat(NumDroppedMessages=2, CurrentDateTime=3))
    longer = struct.pack("<H", len(full) + 8) + full[2:] + b"newfield"
    decoder = Decoder()
    decoder.feed(longer + full)
    assert list(decoder) == [m.Heartbeat(2, 3), m.Heartbeat(2, 3)]


def test_decoder_fed_one_byte_at_a_time() -> None:
    messages: list[m.Message] = [sample(name)[0] for name in LAYOUT_IDS]
    stream = encode_batch(messages, m.BINARY_ENCODING)
    decoder = Decoder()
    received: list[m.Message] = []
    for i in range(len(stream)):
        decoder.feed(stream[i : i + 1])
        received.extend(decoder)
    assert received == messages
    decoder.close()


def test_decoder_handles_arbitrary_chunks_and_large_bursts() -> None:
    messages = [m.Heartbeat(NumDroppedMessages=i) for i in range(20_000)]
    stream = encode_batch(messages, m.BINARY_ENCODING)
    decoder = Decoder()
    received: list[m.Message] = []
    for start in range(0, len(stream), 4093):
        decoder.feed(stream[start : start + 4093])
        received.extend(decoder)
    assert received == messages


def test_unknown_types_are_skipped() -> None:
    unknown = struct.pack("<HH", 12, 10_001) + b"\x01" * 8
    nothing = struct.pack("<HH", 4, 9_999)
    decoder = Decoder()
    decoder.feed(unknown + nothing + encode_binary(m.Heartbeat()))
    assert list(decoder) == [m.Heartbeat()]
    assert decoder.skipped == 2
    assert decode_binary(unknown) is None


@pytest.mark.parametrize("size", [0, 1, 2, 3])
def test_size_below_header_is_rejected(size: int) -> None:
    decoder = Decoder()
    decoder.feed(struct.pack("<HH", size, m.Heartbeat.TYPE) + b"\0" * 12)
    with pytest.raises(ProtocolError, match="below the 4-byte header"):
        decoder.next()
    with pytest.raises(ProtocolError):
        decode_binary(struct.pack("<HH", size, 3))


def test_truncated_frame_at_end_of_stream_is_an_error() -> None:
    decoder = Decoder()
    decoder.feed(encode_binary(m.LogonRequest())[:100])
    assert decoder.next() is None
    with pytest.raises(ProtocolError, match="closed in the middle"):
        decoder.close()


def test_garbage_frame_is_consumed_or_rejected_never_hangs() -> None:
    decoder = Decoder()
    decoder.feed(b"\xff\xff\xff\xff" + b"\0" * 10)  # Size 65535 of unknown type: waits for the rest
    assert decoder.next() is None
    assert decoder.pending == 14
    with pytest.raises(ProtocolError):
        decode_binary(b"\x05\x00")
    with pytest.raises(ProtocolError, match="declares Size"):
        decode_binary(encode_binary(m.Heartbeat()) + b"extra")


def test_oversized_values_are_refused_when_encoding() -> None:
    with pytest.raises(LocalProtocolError, match="cannot encode"):
        encode_binary(m.MarketDataUpdateTrade(SymbolID=2**32))


def test_encode_trades_matches_generic_encoding() -> None:
    trades = [(7, m.AT_ASK, 100.25, 0.5, 1_700_000_000.125), (7, m.AT_BID, 99.0, 2.0, 1_700_000_001.0)]
    for encoding in (m.BINARY_ENCODING, m.JSON_ENCODING, m.JSON_COMPACT_ENCODING):
        generic = encode_batch([m.MarketDataUpdateTrade(*t) for t in trades], encoding)
        assert encode_trades(trades, encoding) == generic


def test_unsupported_encoding() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        encode(m.Heartbeat(), m.PROTOCOL_BUFFERS)
    with pytest.raises(ValueError, match="unsupported"):
        Decoder(m.BINARY_WITH_VARIABLE_LENGTH_STRINGS)
