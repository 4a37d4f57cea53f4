"""Sans-I/O DTC codec: messages to bytes and a streaming decoder, for every encoding mdtool speaks.

Binary (encoding 0) follows the versioning rules of the protocol: a frame is exactly `Size` bytes, a
short frame from an older peer leaves its missing trailing fields at their defaults, a long frame from a
newer peer is accepted and its extra bytes ignored, and unknown types are skipped. JSON (2) and compact
JSON (3) are NUL-terminated objects, handled in `json_codec`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from mdtool.dtc import json_codec
from mdtool.dtc.errors import LocalProtocolError
from mdtool.dtc.layouts import HEADER, LAYOUTS, LAYOUTS_BY_TYPE, STRING, CompiledLayout
from mdtool.dtc.messages import (
    BINARY_ENCODING,
    JSON_COMPACT_ENCODING,
    JSON_ENCODING,
    MarketDataUpdateBidAsk,
    MarketDataUpdateTrade,
    Message,
)
from mdtool.errors import ProtocolError

SUPPORTED_ENCODINGS = (BINARY_ENCODING, JSON_ENCODING, JSON_COMPACT_ENCODING)
MAX_JSON_MESSAGE = 65535
_TRADE = struct.Struct("<HHIH6x3d")
_BID_ASK = struct.Struct("<HHIdf4xdfI")
_COMPACT_AFTER = 1 << 16

# (SymbolID, AtBidOrAsk, Price, Volume, DateTime): the one message pushed at high rate.
TradeValues = tuple[int, int, float, float, float]
# (SymbolID, BidPrice, BidQuantity, AskPrice, AskQuantity, DateTime): a live quote.
QuoteValues = tuple[int, float, float, float, float, int]


def encode_binary(message: Message) -> bytes:
    """The fixed-length-strings struct of `message`, padding zeroed and strings NUL-terminated."""
    layout = LAYOUTS[type(message)]
    values: list[Any] = [layout.size, layout.type_id]
    for name, kind, size in zip(layout.names, layout.kinds, layout.string_sizes, strict=True):
        value = getattr(message, name)
        values.append(_fixed_string(value, size) if kind == STRING else value)
    try:
        return layout.struct.pack(*values)
    except (struct.error, OverflowError) as exc:
        raise LocalProtocolError(f"cannot encode {type(message).__name__}: {exc}") from None


def decode_binary(frame: bytes) -> Message | None:
    """One whole binary frame (exactly its `Size` bytes) to a message; None for an unknown type."""
    if len(frame) < HEADER.size:
        raise ProtocolError(f"DTC frame of {len(frame)} bytes is shorter than its 4-byte header")
    size, type_id = HEADER.unpack_from(frame)
    if size < HEADER.size:
        raise ProtocolError(f"DTC frame declares Size {size}, below the 4-byte header")
    if size != len(frame):
        raise ProtocolError(f"DTC frame declares Size {size} but has {len(frame)} bytes")
    layout = LAYOUTS_BY_TYPE.get(type_id)
    if layout is None:
        return None
    return _unpack(layout, frame)


def encode(message: Message, encoding: int) -> bytes:
    """`message` in `encoding` (0 binary, 2 JSON, 3 compact JSON)."""
    if encoding == BINARY_ENCODING:
        return encode_binary(message)
    if encoding == JSON_ENCODING:
        return json_codec.encode_json(message, compact=False)
    if encoding == JSON_COMPACT_ENCODING:
        return json_codec.encode_json(message, compact=True)
    raise ValueError(f"unsupported DTC encoding {encoding}")


def encode_batch(messages: Iterable[Message], encoding: int) -> bytes:
    """Many messages in one buffer, so that a burst costs one socket write."""
    return b"".join(encode(message, encoding) for message in messages)


def encode_trades(trades: Sequence[TradeValues], encoding: int) -> bytes:
    """MARKET_DATA_UPDATE_TRADE messages for a burst of trades, without building message objects."""
    if encoding == BINARY_ENCODING:
        pack = _TRADE.pack
        size, type_id = _TRADE.size, MarketDataUpdateTrade.TYPE
        return b"".join([pack(size, type_id, *trade) for trade in trades])
    if encoding in (JSON_ENCODING, JSON_COMPACT_ENCODING):
        return json_codec.encode_trades_json(trades, compact=encoding == JSON_COMPACT_ENCODING)
    raise ValueError(f"unsupported DTC encoding {encoding}")


def encode_quotes(quotes: Sequence[QuoteValues], encoding: int) -> bytes:
    """MARKET_DATA_UPDATE_BID_ASK messages for a burst of quotes."""
    if encoding != BINARY_ENCODING:
        return encode_batch([MarketDataUpdateBidAsk(*quote) for quote in quotes], encoding)
    pack = _BID_ASK.pack
    size, type_id = _BID_ASK.size, MarketDataUpdateBidAsk.TYPE
    try:
        return b"".join([pack(size, type_id, *quote) for quote in quotes])
    except (struct.error, OverflowError) as exc:  # a size beyond float32
        raise LocalProtocolError(f"cannot encode a quote: {exc}") from None


class Decoder:
    """Streaming decoder: feed it byte chunks as they arrive, pull whole messages out.

    Messages are pulled one at a time on purpose: an ENCODING_REQUEST switches the encoding of the very
    next byte, so the caller must be able to call `set_encoding` between two messages of one chunk.
    """

    def __init__(self, encoding: int = BINARY_ENCODING, max_json_message: int = MAX_JSON_MESSAGE) -> None:
        self._buffer = bytearray()
        self._pos = 0
        self._max_json = max_json_message
        self.encoding = BINARY_ENCODING
        self.set_encoding(encoding)
        self.skipped = 0

    def set_encoding(self, encoding: int) -> None:
        if encoding not in SUPPORTED_ENCODINGS:
            raise ValueError(f"unsupported DTC encoding {encoding}")
        self.encoding = encoding

    def feed(self, data: bytes) -> None:
        if self._pos > _COMPACT_AFTER:
            del self._buffer[: self._pos]
            self._pos = 0
        self._buffer += data

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a whole message."""
        return len(self._buffer) - self._pos

    def next(self) -> Message | None:
        """The next whole message, or None until more bytes arrive; unknown types are skipped."""
        while True:
            if self.encoding == BINARY_ENCODING:
                found, message = self._next_binary()
            else:
                found, message = self._next_json()
            if not found:
                return None
            if message is not None:
                return message
            self.skipped += 1

    def __iter__(self) -> Iterator[Message]:
        while (message := self.next()) is not None:
            yield message

    def close(self) -> None:
        """Declare end of stream: leftover bytes are a frame cut off mid-way."""
        if self.pending:
            raise ProtocolError(f"connection closed in the middle of a DTC message ({self.pending} bytes)")

    def _next_binary(self) -> tuple[bool, Message | None]:
        buffer, pos = self._buffer, self._pos
        if len(buffer) - pos < HEADER.size:
            return False, None
        size, type_id = HEADER.unpack_from(buffer, pos)
        if size < HEADER.size:
            raise ProtocolError(f"DTC frame declares Size {size}, below the 4-byte header")
        if len(buffer) - pos < size:
            return False, None
        self._pos = pos + size
        layout = LAYOUTS_BY_TYPE.get(type_id)
        if layout is None:
            return True, None
        return True, _unpack(layout, bytes(buffer[pos : pos + size]))

    def _next_json(self) -> tuple[bool, Message | None]:
        end = self._buffer.find(0, self._pos)
        if end < 0:
            if self.pending > self._max_json:
                raise ProtocolError(f"DTC JSON message longer than {self._max_json} bytes")
            return False, None
        text = bytes(self._buffer[self._pos : end])
        self._pos = end + 1
        if len(text) > self._max_json:
            raise ProtocolError(f"DTC JSON message longer than {self._max_json} bytes")
        if not text.strip():
            return True, None
        return True, json_codec.decode_json(text)


def _fixed_string(value: str, size: int) -> bytes:
    """8-bit text cut to size-1 bytes: the last byte of a DTC string is always NUL."""
    return value.encode("latin-1", errors="replace")[: size - 1]


def _unpack(layout: CompiledLayout, frame: bytes) -> Message:
    if len(frame) < layout.size:
        cut = max((end for end in layout.ends if end <= len(frame)), default=HEADER.size)
        frame = frame[:cut] + layout.default_bytes[cut:]
    values = list(layout.struct.unpack_from(frame)[2:])
    for index, kind in enumerate(layout.kinds):
        if kind == STRING:
            values[index] = values[index].split(b"\0", 1)[0].decode("latin-1")
    return layout.cls(*values)
