"""JSON (encoding 2) and compact JSON (encoding 3): one NUL-terminated object per message.

Names are the struct field names. "Unset" sentinels (DBL_MAX, FLT_MAX, UINT_MAX) travel as `null`,
which the spec defines as unset, rather than as 1.79e308 that a JSON client would show as a price.
Compact JSON puts every field but Type into an `F` array in binary struct order, for the high-rate
types only; the decoder accepts either form for any type.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

from mdtool.dtc.errors import LocalProtocolError
from mdtool.dtc.layouts import FLOAT, LAYOUTS, LAYOUTS_BY_TYPE, STRING, CompiledLayout
from mdtool.dtc.messages import COMPACT_JSON_TYPES, DBL_MAX, FLT_MAX, UINT_MAX, Message
from mdtool.errors import ProtocolError

_SENTINELS = (DBL_MAX, FLT_MAX, UINT_MAX)
_TRADE = '{"Type":107,"SymbolID":%d,"AtBidOrAsk":%d,"Price":%r,"Volume":%r,"DateTime":%r}\0'
_TRADE_COMPACT = '{"Type":107,"F":[%d,%d,%r,%r,%r]}\0'


def encode_json(message: Message, compact: bool) -> bytes:
    layout = LAYOUTS[type(message)]
    values = [_json_value(layout, index, getattr(message, name)) for index, name in enumerate(layout.names)]
    document: dict[str, Any] = {"Type": layout.type_id}
    if compact and layout.type_id in COMPACT_JSON_TYPES:
        document["F"] = values
    else:
        document.update(zip(layout.names, values, strict=True))
    try:
        text = json.dumps(document, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise LocalProtocolError(f"cannot encode {type(message).__name__} as JSON: {exc}") from None
    return text.encode("ascii") + b"\0"


def encode_trades_json(trades: Sequence[tuple[int, int, float, float, float]], compact: bool) -> bytes:
    """MARKET_DATA_UPDATE_TRADE objects by formatting, the hot path of a JSON client's live feed.

    `repr` of a finite float is exactly what `json.dumps` writes, so this matches `encode_json`.
    """
    template = _TRADE_COMPACT if compact else _TRADE
    try:
        text = "".join(
            [template % (sid, side, float(p), float(v), float(t)) for sid, side, p, v, t in trades]
        )
    except TypeError as exc:
        raise LocalProtocolError(f"cannot encode trades as JSON: {exc}") from None
    if "nan" in text or "inf" in text:  # no field name contains either
        raise LocalProtocolError("cannot encode a non-finite trade value as JSON")
    return text.encode("ascii")


def decode_json(text: bytes) -> Message | None:
    """One JSON object (without its NUL) to a message; None for an unknown type."""
    try:
        document = json.loads(text.decode("latin-1"))
    except ValueError as exc:
        raise ProtocolError(f"malformed DTC JSON message: {exc}") from None
    if not isinstance(document, dict):
        raise ProtocolError("DTC JSON message is not an object")
    type_id = document.get("Type")
    if not isinstance(type_id, int) or isinstance(type_id, bool):
        raise ProtocolError(f"DTC JSON message without an integer Type: {text[:80]!r}")
    layout = LAYOUTS_BY_TYPE.get(type_id)
    if layout is None:
        return None
    packed = document.get("F")
    if isinstance(packed, list):
        raw: dict[str, Any] = dict(zip(layout.names, packed, strict=False))
    else:
        raw = document
    values = [_field(layout, index, raw.get(name)) for index, name in enumerate(layout.names)]
    _check_ranges(layout, values)
    return layout.cls(*values)


def _check_ranges(layout: CompiledLayout, values: list[Any]) -> None:
    """Every number must fit its binary field, as it would have on the binary wire.

    Replies echo the client's ids (RequestID, SymbolID): a JSON id outside int32/uint32 accepted here
    would only fail later, when the answer to it cannot be encoded.
    """
    numbers = [b"" if kind == STRING else value for value, kind in zip(values, layout.kinds, strict=True)]
    try:
        layout.struct.pack(layout.size, layout.type_id, *numbers)
    except struct.error as exc:
        raise ProtocolError(f"DTC JSON {layout.cls.__name__} has a value out of range: {exc}") from None


def _json_value(layout: CompiledLayout, index: int, value: Any) -> Any:
    default = layout.defaults[index]
    if value == default and default in _SENTINELS and layout.kinds[index] != STRING:
        return None
    return value


def _field(layout: CompiledLayout, index: int, value: Any) -> Any:
    if value is None:
        return layout.defaults[index]
    kind, name = layout.kinds[index], layout.names[index]
    if kind == STRING:
        if not isinstance(value, str):
            raise ProtocolError(f"DTC JSON field {name} must be a string, got {value!r}")
        # A DTC string ends at its first NUL, as in binary; "\u0000" must not reach a SQL parameter
        # (PostgreSQL refuses NUL in text, which would read as a database outage).
        return value.split("\0", 1)[0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"DTC JSON field {name} must be a number, got {value!r}")
    if kind == FLOAT:
        return float(value)
    if isinstance(value, float) and not value.is_integer():
        raise ProtocolError(f"DTC JSON field {name} must be an integer, got {value!r}")
    return int(value)
