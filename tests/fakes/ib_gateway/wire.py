"""TWS API framing: a 4-byte big-endian length, then NUL-terminated text fields."""

from __future__ import annotations

import asyncio
import struct

SERVER_VERSION = 178
MIN_CLIENT_VERSION = 157
ACCOUNT = "DU1234567"
CONNECTED_AT = "20260101 12:00:00 Greenwich Mean Time"


def encode(*fields: object) -> bytes:
    """One framed message: big-endian length, then each field as text plus NUL."""
    payload = b"".join(_text(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(payload)) + payload


def error(req_id: object, code: int, text: str) -> bytes:
    """An error message with the empty advancedOrderRejectJson field ib_async needs at version >= 166."""
    return encode(4, 2, req_id, code, text, "")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


async def read_frame(reader: asyncio.StreamReader) -> str:
    (size,) = struct.unpack(">I", await reader.readexactly(4))
    return (await reader.readexactly(size)).decode()


async def read_fields(reader: asyncio.StreamReader) -> list[str]:
    """One client message as its text fields (the trailing empty element of the split dropped)."""
    return (await read_frame(reader)).split("\0")[:-1]
