"""A minimal blocking DTC client written from the protocol reference, independent of mdtool's codec.

It packs and unpacks with its own `struct` formats (the reference's §2.3 strings), so the end-to-end
tests check the server against the spec rather than against the code that produced the bytes.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Sequence
from typing import Any

FORMATS: dict[int, tuple[str, Sequence[str]]] = {
    2: (
        "<HHii96s64si60sBBBB4sBBBBBBBBB3x",
        [
            "ProtocolVersion",
            "Result",
            "ResultText",
            "ReconnectAddress",
            "Integer_1",
            "ServerName",
            "MarketDepthUpdatesBestBidAndAsk",
            "TradingIsSupported",
            "OCOOrdersSupported",
            "OrderCancelReplaceSupported",
            "SymbolExchangeDelimiter",
            "SecurityDefinitionsSupported",
            "HistoricalPriceDataSupported",
            "ResubscribeWhenMarketDataFeedAvailable",
            "MarketDepthIsSupported",
            "OneHistoricalPriceDataRequestPerConnection",
            "BracketOrdersSupported",
            "Unused_1",
            "UsesMultiplePositionsPerSymbolAndTradeAccount",
            "MarketDataSupported",
        ],
    ),
    3: ("<HHIq", ("NumDroppedMessages", "CurrentDateTime")),
    5: ("<HH96sBx", ("Reason", "DoNotReconnect")),
    7: ("<HHii4s", ("ProtocolVersion", "Encoding", "ProtocolType")),
    103: ("<HHI96s", ("SymbolID", "RejectText")),
    104: (
        "<HHI5d2I8d2Ib7xd",
        [
            "SymbolID",
            "SessionSettlementPrice",
            "SessionOpenPrice",
            "SessionHighPrice",
            "SessionLowPrice",
            "SessionVolume",
            "SessionNumTrades",
            "OpenInterest",
            "BidPrice",
            "AskPrice",
            "AskQuantity",
            "BidQuantity",
            "LastTradePrice",
            "LastTradeVolume",
            "LastTradeDateTime",
            "BidAskDateTime",
            "SessionSettlementDateTime",
            "TradingSessionDate",
            "TradingStatus",
            "MarketDepthUpdateDateTime",
        ],
    ),
    107: ("<HHIH6x3d", ("SymbolID", "AtBidOrAsk", "Price", "Volume", "DateTime")),
    108: ("<HHIdf4xdfI", ("SymbolID", "BidPrice", "BidQuantity", "AskPrice", "AskQuantity", "DateTime")),
    507: (
        "<HHi64s16si64sfifB",
        [
            "RequestID",
            "Symbol",
            "Exchange",
            "SecurityType",
            "Description",
            "MinPriceIncrement",
            "PriceDisplayFormat",
            "CurrencyValuePerIncrement",
            "IsFinalMessage",
        ],
    ),
    509: ("<HHi96s", ("RequestID", "RejectText")),
    801: (
        "<HHiiBB2xfB3x",
        [
            "RequestID",
            "RecordInterval",
            "UseZLibCompression",
            "NoRecordsToReturn",
            "IntToFloatPriceDivisor",
            "UseZLibNGCompression",
        ],
    ),
    802: ("<HHi96shH", ("RequestID", "RejectText", "RejectReasonCode", "RetryTimeInSeconds")),
    803: (
        "<HHiq5dI4x2dB7x",
        [
            "RequestID",
            "StartDateTime",
            "OpenPrice",
            "HighPrice",
            "LowPrice",
            "LastPrice",
            "Volume",
            "NumTrades",
            "BidVolume",
            "AskVolume",
            "IsFinalRecord",
        ],
    ),
    804: ("<HHidH6x2dB7x", ("RequestID", "DateTime", "AtBidOrAsk", "Price", "Volume", "IsFinalRecord")),
}
SIZES = {type_id: struct.calcsize(fmt) for type_id, (fmt, _) in FORMATS.items()}


def text(value: str) -> bytes:
    return value.encode("latin-1")


def encoding_request(encoding: int) -> bytes:
    return struct.pack("<HHii4s", 16, 6, 8, encoding, b"DTC")


def logon_request(username: str = "", password: str = "", heartbeat: int = 10, name: str = "test") -> bytes:
    fmt = "<HHi32s32s64siiii32s64s32si"
    return struct.pack(
        fmt, 284, 1, 8, text(username), text(password), b"", 0, 0, heartbeat, 0, b"", b"", text(name), 0
    )


def heartbeat() -> bytes:
    return struct.pack("<HHIq", 16, 3, 0, int(time.time()))


def logoff(reason: str = "bye") -> bytes:
    return struct.pack("<HH96sBx", 102, 5, text(reason), 0)


def market_data_request(action: int, symbol_id: int, symbol: str = "", exchange: str = "") -> bytes:
    return struct.pack("<HHiI64s16sI", 96, 101, action, symbol_id, text(symbol), text(exchange), 0)


def security_definition_request(request_id: int, symbol: str, exchange: str) -> bytes:
    return struct.pack("<HHi64s16s", 88, 506, request_id, text(symbol), text(exchange))


def historical_request(
    request_id: int,
    symbol: str,
    exchange: str,
    interval: int,
    start: int = 0,
    end: int = 0,
    zlib: bool = False,
) -> bytes:
    fmt = "<HHi64s16si4xqqIBBHB7x"
    return struct.pack(
        fmt, 128, 800, request_id, text(symbol), text(exchange), interval, start, end, 0, int(zlib), 0, 0, 0
    )


def parse_all(data: bytes) -> list[dict[str, Any]]:
    """Every whole binary message in `data` (which must hold whole messages only)."""
    reader = DtcClient.__new__(DtcClient)
    reader.buffer, reader.json = data, False
    messages = []
    while (message := reader._parse()) is not None:
        messages.append(message)
    assert not reader.buffer, f"{len(reader.buffer)} bytes left over"
    return messages


class DtcClient:
    """Blocking socket client; every wait has a deadline."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buffer = b""
        self.json = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()

    def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message as a dict with its Type and named fields."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            message = self._parse()
            if message is not None:
                return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no DTC message in time")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buffer += chunk

    def expect(self, type_id: int, timeout: float | None = None) -> dict[str, Any]:
        """The next message that is not a heartbeat, which must be of `type_id`."""
        while True:
            message = self.recv(timeout)
            if message["Type"] != 3:
                assert message["Type"] == type_id, message
                return message

    def assert_silent(self, type_id: int, seconds: float) -> None:
        """Read for `seconds` (a bounded wait for something that must not happen): no `type_id` may come."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = self.recv(remaining)
            except TimeoutError:
                return
            assert message["Type"] != type_id, message

    def read_to_end(self, timeout: float) -> bytes:
        """Everything the server sends until it closes the connection (after what is buffered)."""
        data, self.buffer = self.buffer, b""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("server did not close the connection")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return data
            data += chunk

    def wait_closed(self, timeout: float) -> float:
        """Seconds until the server closes the connection (heartbeats are read and ignored)."""
        start = time.monotonic()
        while True:
            remaining = timeout - (time.monotonic() - start)
            if remaining <= 0:
                raise TimeoutError("server did not close the connection")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return time.monotonic() - start

    def _parse(self) -> dict[str, Any] | None:
        if self.json:
            end = self.buffer.find(b"\0")
            if end < 0:
                return None
            document: dict[str, Any] = json.loads(self.buffer[:end])
            self.buffer = self.buffer[end + 1 :]
            return document
        if len(self.buffer) < 4:
            return None
        size, type_id = struct.unpack_from("<HH", self.buffer)
        assert size >= 4
        if len(self.buffer) < size:
            return None
        frame, self.buffer = self.buffer[:size], self.buffer[size:]
        fmt, names = FORMATS[type_id]
        assert size == SIZES[type_id] or type_id == 507, (type_id, size)
        values = struct.unpack_from(fmt, frame)
        fields = {
            name: value.split(b"\0", 1)[0].decode("latin-1") if isinstance(value, bytes) else value
            for name, value in zip(names, values[2:], strict=True)
        }
        return {"Type": type_id, **fields}
