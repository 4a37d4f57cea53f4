"""Connection messages: encoding handshake, logon, heartbeat, logoff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mdtool.dtc.messages.enums import BINARY_ENCODING, CURRENT_VERSION, LOGON_SUCCESS, Layout


@dataclass(frozen=True, slots=True)
class EncodingRequest:
    TYPE: ClassVar[int] = 6
    LAYOUT: ClassVar[Layout] = (("ProtocolVersion", "i"), ("Encoding", "i"), ("ProtocolType", "4s"))
    ProtocolVersion: int = CURRENT_VERSION
    Encoding: int = BINARY_ENCODING
    ProtocolType: str = "DTC"


@dataclass(frozen=True, slots=True)
class EncodingResponse:
    TYPE: ClassVar[int] = 7
    LAYOUT: ClassVar[Layout] = EncodingRequest.LAYOUT
    ProtocolVersion: int = CURRENT_VERSION
    Encoding: int = BINARY_ENCODING
    ProtocolType: str = "DTC"


@dataclass(frozen=True, slots=True)
class LogonRequest:
    TYPE: ClassVar[int] = 1
    LAYOUT: ClassVar[Layout] = (
        ("ProtocolVersion", "i"),
        ("Username", "32s"),
        ("Password", "32s"),
        ("GeneralTextData", "64s"),
        ("Integer_1", "i"),
        ("Integer_2", "i"),
        ("HeartbeatIntervalInSeconds", "i"),
        ("Unused1", "i"),
        ("TradeAccount", "32s"),
        ("HardwareIdentifier", "64s"),
        ("ClientName", "32s"),
        ("MarketDataTransmissionInterval", "i"),
    )
    ProtocolVersion: int = CURRENT_VERSION
    Username: str = ""
    Password: str = ""
    GeneralTextData: str = ""
    Integer_1: int = 0
    Integer_2: int = 0
    HeartbeatIntervalInSeconds: int = 0
    Unused1: int = 0
    TradeAccount: str = ""
    HardwareIdentifier: str = ""
    ClientName: str = ""
    MarketDataTransmissionInterval: int = 0


@dataclass(frozen=True, slots=True)
class LogonResponse:
    TYPE: ClassVar[int] = 2
    LAYOUT: ClassVar[Layout] = (
        ("ProtocolVersion", "i"),
        ("Result", "i"),
        ("ResultText", "96s"),
        ("ReconnectAddress", "64s"),
        ("Integer_1", "i"),
        ("ServerName", "60s"),
        ("MarketDepthUpdatesBestBidAndAsk", "B"),
        ("TradingIsSupported", "B"),
        ("OCOOrdersSupported", "B"),
        ("OrderCancelReplaceSupported", "B"),
        ("SymbolExchangeDelimiter", "4s"),
        ("SecurityDefinitionsSupported", "B"),
        ("HistoricalPriceDataSupported", "B"),
        ("ResubscribeWhenMarketDataFeedAvailable", "B"),
        ("MarketDepthIsSupported", "B"),
        ("OneHistoricalPriceDataRequestPerConnection", "B"),
        ("BracketOrdersSupported", "B"),
        ("Unused_1", "B"),
        ("UsesMultiplePositionsPerSymbolAndTradeAccount", "B"),
        ("MarketDataSupported", "B"),
        (None, "3x"),
    )
    ProtocolVersion: int = CURRENT_VERSION
    Result: int = LOGON_SUCCESS
    ResultText: str = ""
    ReconnectAddress: str = ""
    Integer_1: int = 0
    ServerName: str = ""
    MarketDepthUpdatesBestBidAndAsk: int = 0
    TradingIsSupported: int = 0
    OCOOrdersSupported: int = 0
    OrderCancelReplaceSupported: int = 1
    SymbolExchangeDelimiter: str = ""
    SecurityDefinitionsSupported: int = 0
    HistoricalPriceDataSupported: int = 0
    ResubscribeWhenMarketDataFeedAvailable: int = 0
    MarketDepthIsSupported: int = 1
    OneHistoricalPriceDataRequestPerConnection: int = 0
    BracketOrdersSupported: int = 0
    Unused_1: int = 0
    UsesMultiplePositionsPerSymbolAndTradeAccount: int = 0
    MarketDataSupported: int = 1


@dataclass(frozen=True, slots=True)
class Heartbeat:
    TYPE: ClassVar[int] = 3
    LAYOUT: ClassVar[Layout] = (("NumDroppedMessages", "I"), ("CurrentDateTime", "q"))
    NumDroppedMessages: int = 0
    CurrentDateTime: int = 0


@dataclass(frozen=True, slots=True)
class Logoff:
    TYPE: ClassVar[int] = 5
    LAYOUT: ClassVar[Layout] = (("Reason", "96s"), ("DoNotReconnect", "B"), (None, "x"))
    Reason: str = ""
    DoNotReconnect: int = 0
