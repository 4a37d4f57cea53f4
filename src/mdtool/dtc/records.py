"""Historical records in bulk: rows of numbers to wire bytes, without a message object per record.

A year of 1-minute bars is half a million records; building a dataclass and walking its layout for each
would cost more than reading them from the database. In binary, every record is a fixed prefix (Size,
Type, RequestID: the same for the whole answer) followed by the row's values, so one precompiled
`Struct` packs the values of each row (`starmap`, C speed) and `bytes.join` puts the prefix between
them. JSON formats each row with a template that writes exactly what `json_codec.encode_json` writes.
The output equals `codec.encode` of the equivalent messages byte for byte (tested).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from itertools import starmap
from typing import Any

from mdtool.dtc.errors import LocalProtocolError
from mdtool.dtc.messages import (
    BINARY_ENCODING,
    JSON_COMPACT_ENCODING,
    JSON_ENCODING,
    HistoricalPriceDataRecordResponse,
    HistoricalPriceDataTickRecordResponse,
)

_PREFIX = struct.Struct("<HHi")
# Everything after the prefix; the last 8 bytes are IsFinalRecord and its padding.
_BAR_BODY = struct.Struct("<q5dI4x2d8x")
_BAR_FINAL = struct.Struct("<q5dI4x2dB7x")
_TICK_BODY = struct.Struct("<dH6x2d8x")
_TICK_FINAL = struct.Struct("<dH6x2dB7x")

_BAR_NAMES = (
    "StartDateTime",
    "OpenPrice",
    "HighPrice",
    "LowPrice",
    "LastPrice",
    "Volume",
    "NumTrades",
    "BidVolume",
    "AskVolume",
)
_TICK_NAMES = ("DateTime", "AtBidOrAsk", "Price", "Volume")
_BAR_CODES = ("%d", "%r", "%r", "%r", "%r", "%r", "%d", "%r", "%r")
_TICK_CODES = ("%r", "%d", "%r", "%r")


class RecordEncoder:
    """Encodes the records of one history answer: bars (`RECORD_RESPONSE`) or ticks (`TICK_RECORD`).

    Bar rows are (start s, open, high, low, close, volume, trades, bid volume, ask volume); tick rows
    are (time s, AtBidOrAsk, price, volume), as `storage.history_stream` yields them.
    """

    def __init__(self, request_id: int, ticks: bool, encoding: int) -> None:
        cls = HistoricalPriceDataTickRecordResponse if ticks else HistoricalPriceDataRecordResponse
        self._body, self._final = (_TICK_BODY, _TICK_FINAL) if ticks else (_BAR_BODY, _BAR_FINAL)
        size = _PREFIX.size + self._body.size
        self._prefix = _PREFIX.pack(size, cls.TYPE, request_id)
        self._encoding = encoding
        names, codes = (_TICK_NAMES, _TICK_CODES) if ticks else (_BAR_NAMES, _BAR_CODES)
        if encoding == JSON_COMPACT_ENCODING:
            values = ",".join(codes)
            self._template = f'{{"Type":{cls.TYPE},"F":[{request_id},{values},%d]}}\0'
        elif encoding == JSON_ENCODING:
            pairs = ",".join(f'"{n}":{c}' for n, c in zip(names, codes, strict=True))
            self._template = f'{{"Type":{cls.TYPE},"RequestID":{request_id},{pairs},"IsFinalRecord":%d}}\0'
        elif encoding != BINARY_ENCODING:
            raise ValueError(f"unsupported DTC encoding {encoding}")

    def encode(self, rows: Sequence[Sequence[Any]], final: bool) -> bytes:
        """The records of `rows`; with `final`, the last one carries IsFinalRecord = 1."""
        if not rows:
            return b""
        if self._encoding == BINARY_ENCODING:
            return self._binary(rows, final)
        return self._json(rows, final)

    def _binary(self, rows: Sequence[Sequence[Any]], final: bool) -> bytes:
        prefix = self._prefix
        try:
            if not final:
                return prefix + prefix.join(starmap(self._body.pack, rows))
            last = self._final.pack(*rows[-1], 1)
            return prefix + prefix.join([*starmap(self._body.pack, rows[:-1]), last])
        except struct.error as exc:
            raise LocalProtocolError(f"cannot encode a historical record: {exc}") from None

    def _json(self, rows: Sequence[Sequence[Any]], final: bool) -> bytes:
        template = self._template
        try:
            parts = [template % (*row, 0) for row in rows]
            if final:
                parts[-1] = template % (*rows[-1], 1)
        except TypeError as exc:
            raise LocalProtocolError(f"cannot encode a historical record as JSON: {exc}") from None
        text = "".join(parts)
        if "nan" in text or "inf" in text:  # no field name contains either
            bad = next(row for row in rows if not all(math.isfinite(v) for v in row))
            raise LocalProtocolError(f"cannot encode a non-finite historical value as JSON: {bad!r}")
        return text.encode("ascii")
