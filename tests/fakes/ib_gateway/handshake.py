"""Connection start: the `API\\0` + version handshake, startApi, and the start-up requests ib_async sends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from tests.fakes.ib_gateway.wire import (
    ACCOUNT,
    CONNECTED_AT,
    MIN_CLIENT_VERSION,
    SERVER_VERSION,
    encode,
    error,
    read_frame,
)

CLIENT_ID_IN_USE_TEXT = "Unable to connect as the client id is already in use. Retry with a unique client id."


async def negotiate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Read `API\\0` and `v<min>..<max>[ options]`; answer with exactly two fields (version, time)."""
    if await reader.readexactly(4) != b"API\0":
        return False
    versions = (await read_frame(reader)).split(" ", 1)[0].lstrip("v")
    low, _, high = versions.partition("..")
    if int(high or low) < MIN_CLIENT_VERSION:
        return False
    writer.write(encode(min(int(high or low), SERVER_VERSION), CONNECTED_AT))
    return True


def start_api_frames(next_valid_id: int) -> list[bytes]:
    """managedAccounts, nextValidId (both needed for ib_async's apiStart), then farm notices."""
    return [
        encode(15, 1, ACCOUNT),
        encode(9, 1, next_valid_id),
        error(-1, 2104, "Market data farm connection is OK:usfarm"),
        error(-1, 2106, "HMDS data farm connection is OK:ushmds"),
    ]


def client_id_in_use() -> bytes:
    return error(-1, 326, CLIENT_ID_IN_USE_TEXT)


def startup_reply(msg: int, fields: list[str], now: Callable[[], datetime]) -> bytes | None:
    """The "End" answers to connectAsync's start-up requests, currentTime and accountSummary; None when
    `msg` is not one of them."""
    if msg == 61:
        return encode(62, 1)
    if msg == 5:
        return encode(53, 1)
    if msg == 99:
        return encode(102)
    if msg == 6:
        return encode(54, 1, fields[3]) if fields[2] == "1" else b""
    if msg == 76:
        return encode(74, 1, fields[2])
    if msg == 7:
        return encode(55, 1, fields[2])
    if msg == 49:
        return encode(49, 1, int(now().timestamp()))
    if msg == 62:
        return encode(64, 1, fields[2])
    return None
