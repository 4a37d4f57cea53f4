"""RFC 6455 for a client that only reads a market feed: pure functions, bytes in, frames out.

Binance sends one small text frame per trade. websocket-client (the transport under binance-connector)
parses each frame with several Python calls and objects and hands it to a callback on a thread of its
own per socket, which measured here as the ceiling of the whole stream (a reader that did nothing but
`recv()` topped out near 14,500 frames/s on this machine). Here a whole `recv()` buffer is split into
frames in one loop over a `bytes` object, so the cost per trade is a few slice operations, and the
connection owner gets every complete frame of a read at once.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
MAX_FRAME = 16 * 1024 * 1024
"""A frame claiming more than this is a broken or hostile peer (Binance's are well under 64 KiB)."""


class FrameError(Exception):
    """The server broke the WebSocket protocol (a masked frame, a control frame over 125 bytes...)."""


def handshake_request(host: str, path: str) -> tuple[bytes, bytes]:
    """The HTTP/1.1 upgrade request and the `Sec-WebSocket-Accept` value the server must answer with."""
    key = base64.b64encode(os.urandom(16))
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())  # noqa: S324 - mandated by RFC 6455
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
        f"User-Agent: mdtool\r\n\r\n"
    ).encode()
    return request, accept


def check_handshake(head: bytes, accept: bytes) -> int:
    """The status code of the server's answer; 101 only when it is a valid upgrade for our key."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise FrameError(f"not an HTTP answer: {lines[0][:80]!r}")
    status = int(parts[1])
    if status != 101:
        return status
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("sec-websocket-accept", "").encode() != accept:
        raise FrameError("the server's Sec-WebSocket-Accept does not match our key")
    return status


def encode(opcode: int, payload: bytes) -> bytes:
    """One final client frame; clients must mask (RFC 6455 5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    if n:
        repeated = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")
    else:
        masked = b""
    return header + mask + masked


def split_frames(buffer: bytes) -> tuple[list[tuple[int, bool, bytes]], bytes]:
    """Complete frames `(opcode, final, payload)` at the start of `buffer`, and the incomplete rest."""
    frames = []
    pos = 0
    size = len(buffer)
    while size - pos >= 2:
        first, second = buffer[pos], buffer[pos + 1]
        if second & 0x80:
            raise FrameError("the server sent a masked frame")
        length = second & 0x7F
        start = pos + 2
        if length == 126:
            if size - pos < 4:
                break
            length = (buffer[pos + 2] << 8) | buffer[pos + 3]
            start = pos + 4
        elif length == 127:
            if size - pos < 10:
                break
            length = struct.unpack_from("!Q", buffer, pos + 2)[0]
            start = pos + 10
            if length > MAX_FRAME:
                raise FrameError(f"a {length}-byte frame")
        end = start + length
        if end > size:
            break
        opcode = first & 0x0F
        if opcode >= CLOSE and (length > 125 or not first & 0x80):
            raise FrameError("a control frame that is fragmented or longer than 125 bytes")
        frames.append((opcode, bool(first & 0x80), buffer[start:end]))
        pos = end
    return frames, buffer[pos:]


def close_code(payload: bytes) -> int | None:
    """The status code of a close frame (None when it carries none)."""
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
