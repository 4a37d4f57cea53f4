"""DTC message types (protocol version 8) as plain value objects, with their binary layouts.

Attribute names are the C struct field names of `DTCProtocol.h`, because the JSON encodings use exactly
those names on the wire and because the spec, Sierra Chart's documentation and any packet dump speak in
them. Each class carries its type id and its layout: the little-endian `struct` codes of its fields in
struct order, with the padding that `#pragma pack(8)` inserts written out as `x` entries (no name), so
the codec never depends on native alignment.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar

CURRENT_VERSION = 8
DBL_MAX = sys.float_info.max
FLT_MAX = 3.4028234663852886e38
UINT_MAX = 0xFFFFFFFF

# EncodingEnum
BINARY_ENCODING = 0
BINARY_WITH_VARIABLE_LENGTH_STRINGS = 1
JSON_ENCODING = 2
JSON_COMPACT_ENCODING = 3
PROTOCOL_BUFFERS = 4

# LogonStatusEnum
LOGON_SUCCESS = 1
LOGON_ERROR = 2
LOGON_ERROR_NO_RECONNECT = 3

# RequestActionEnum
SUBSCRIBE = 1
UNSUBSCRIBE = 2
SNAPSHOT = 3
SNAPSHOT_WITH_INTERVAL_UPDATES = 4

# AtBidOrAskEnum: AT_BID means the seller was the aggressor, AT_ASK the buyer.
BID_ASK_UNSET = 0
AT_BID = 1
AT_ASK = 2

# HistoricalPriceDataRejectReasonCodeEnum
HPDR_UNSET = 0
HPDR_GENERAL_REJECT_ERROR = 4

# PriceDisplayFormatEnum
PRICE_DISPLAY_FORMAT_UNSET = -1

# SecurityTypeEnum
SECURITY_TYPE_UNSET = 0

Layout = tuple[tuple[str | None, str], ...]


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


@dataclass(frozen=True, slots=True)
class MarketDataRequest:
    TYPE: ClassVar[int] = 101
    LAYOUT: ClassVar[Layout] = (
        ("RequestAction", "i"),
        ("SymbolID", "I"),
        ("Symbol", "64s"),
        ("Exchange", "16s"),
        ("IntervalForSnapshotUpdatesInMilliseconds", "I"),
    )
    RequestAction: int = SUBSCRIBE
    SymbolID: int = 0
    Symbol: str = ""
    Exchange: str = ""
    IntervalForSnapshotUpdatesInMilliseconds: int = 0


@dataclass(frozen=True, slots=True)
class MarketDataReject:
    TYPE: ClassVar[int] = 103
    LAYOUT: ClassVar[Layout] = (("SymbolID", "I"), ("RejectText", "96s"))
    SymbolID: int = 0
    RejectText: str = ""


@dataclass(frozen=True, slots=True)
class MarketDataSnapshot:
    """Unset prices are DBL_MAX and unset counts UINT_MAX, because 0 is a valid price and count."""

    TYPE: ClassVar[int] = 104
    LAYOUT: ClassVar[Layout] = (
        ("SymbolID", "I"),
        ("SessionSettlementPrice", "d"),
        ("SessionOpenPrice", "d"),
        ("SessionHighPrice", "d"),
        ("SessionLowPrice", "d"),
        ("SessionVolume", "d"),
        ("SessionNumTrades", "I"),
        ("OpenInterest", "I"),
        ("BidPrice", "d"),
        ("AskPrice", "d"),
        ("AskQuantity", "d"),
        ("BidQuantity", "d"),
        ("LastTradePrice", "d"),
        ("LastTradeVolume", "d"),
        ("LastTradeDateTime", "d"),
        ("BidAskDateTime", "d"),
        ("SessionSettlementDateTime", "I"),
        ("TradingSessionDate", "I"),
        ("TradingStatus", "b"),
        (None, "7x"),
        ("MarketDepthUpdateDateTime", "d"),
    )
    SymbolID: int = 0
    SessionSettlementPrice: float = DBL_MAX
    SessionOpenPrice: float = DBL_MAX
    SessionHighPrice: float = DBL_MAX
    SessionLowPrice: float = DBL_MAX
    SessionVolume: float = DBL_MAX
    SessionNumTrades: int = UINT_MAX
    OpenInterest: int = UINT_MAX
    BidPrice: float = DBL_MAX
    AskPrice: float = DBL_MAX
    AskQuantity: float = DBL_MAX
    BidQuantity: float = DBL_MAX
    LastTradePrice: float = DBL_MAX
    LastTradeVolume: float = DBL_MAX
    LastTradeDateTime: float = 0.0
    BidAskDateTime: float = 0.0
    SessionSettlementDateTime: int = 0
    TradingSessionDate: int = 0
    TradingStatus: int = 0
    MarketDepthUpdateDateTime: float = 0.0


@dataclass(frozen=True, slots=True)
class MarketDataUpdateTrade:
    TYPE: ClassVar[int] = 107
    LAYOUT: ClassVar[Layout] = (
        ("SymbolID", "I"),
        ("AtBidOrAsk", "H"),
        (None, "6x"),
        ("Price", "d"),
        ("Volume", "d"),
        ("DateTime", "d"),
    )
    SymbolID: int = 0
    AtBidOrAsk: int = BID_ASK_UNSET
    Price: float = 0.0
    Volume: float = 0.0
    DateTime: float = 0.0


@dataclass(frozen=True, slots=True)
class MarketDataUpdateTradeCompact:
    """Note the field order differs from MarketDataUpdateTrade: the SymbolID comes after the values."""

    TYPE: ClassVar[int] = 112
    LAYOUT: ClassVar[Layout] = (
        ("Price", "f"),
        ("Volume", "f"),
        ("DateTime", "I"),
        ("SymbolID", "I"),
        ("AtBidOrAsk", "H"),
        (None, "2x"),
    )
    Price: float = 0.0
    Volume: float = 0.0
    DateTime: int = 0
    SymbolID: int = 0
    AtBidOrAsk: int = BID_ASK_UNSET


@dataclass(frozen=True, slots=True)
class MarketDataUpdateBidAsk:
    TYPE: ClassVar[int] = 108
    LAYOUT: ClassVar[Layout] = (
        ("SymbolID", "I"),
        ("BidPrice", "d"),
        ("BidQuantity", "f"),
        (None, "4x"),
        ("AskPrice", "d"),
        ("AskQuantity", "f"),
        ("DateTime", "I"),
    )
    SymbolID: int = 0
    BidPrice: float = DBL_MAX
    BidQuantity: float = 0.0
    AskPrice: float = DBL_MAX
    AskQuantity: float = 0.0
    DateTime: int = 0


@dataclass(frozen=True, slots=True)
class MarketDataUpdateBidAskCompact:
    TYPE: ClassVar[int] = 117
    LAYOUT: ClassVar[Layout] = (
        ("BidPrice", "f"),
        ("BidQuantity", "f"),
        ("AskPrice", "f"),
        ("AskQuantity", "f"),
        ("DateTime", "I"),
        ("SymbolID", "I"),
    )
    BidPrice: float = FLT_MAX
    BidQuantity: float = 0.0
    AskPrice: float = FLT_MAX
    AskQuantity: float = 0.0
    DateTime: int = 0
    SymbolID: int = 0


@dataclass(frozen=True, slots=True)
class SecurityDefinitionForSymbolRequest:
    TYPE: ClassVar[int] = 506
    LAYOUT: ClassVar[Layout] = (("RequestID", "i"), ("Symbol", "64s"), ("Exchange", "16s"))
    RequestID: int = 0
    Symbol: str = ""
    Exchange: str = ""


@dataclass(frozen=True, slots=True)
class SecurityDefinitionResponse:
    TYPE: ClassVar[int] = 507
    LAYOUT: ClassVar[Layout] = (
        ("RequestID", "i"),
        ("Symbol", "64s"),
        ("Exchange", "16s"),
        ("SecurityType", "i"),
        ("Description", "64s"),
        ("MinPriceIncrement", "f"),
        ("PriceDisplayFormat", "i"),
        ("CurrencyValuePerIncrement", "f"),
        ("IsFinalMessage", "B"),
        (None, "3x"),
        ("FloatToIntPriceMultiplier", "f"),
        ("IntToFloatPriceDivisor", "f"),
        ("UnderlyingSymbol", "32s"),
        ("UpdatesBidAskOnly", "B"),
        (None, "3x"),
        ("StrikePrice", "f"),
        ("PutOrCall", "B"),
        (None, "3x"),
        ("ShortInterest", "I"),
        ("SecurityExpirationDate", "I"),
        ("BuyRolloverInterest", "f"),
        ("SellRolloverInterest", "f"),
        ("EarningsPerShare", "f"),
        ("SharesOutstanding", "I"),
        ("IntToFloatQuantityDivisor", "f"),
        ("HasMarketDepthData", "B"),
        (None, "3x"),
        ("DisplayPriceMultiplier", "f"),
        ("ExchangeSymbol", "64s"),
        ("InitialMarginRequirement", "f"),
        ("MaintenanceMarginRequirement", "f"),
        ("Currency", "8s"),
        ("ContractSize", "f"),
        ("OpenInterest", "I"),
        ("RolloverDate", "I"),
        ("IsDelayed", "B"),
        (None, "7x"),
        ("SecurityIdentifier", "q"),
        ("ProductIdentifier", "64s"),
    )
    RequestID: int = 0
    Symbol: str = ""
    Exchange: str = ""
    SecurityType: int = SECURITY_TYPE_UNSET
    Description: str = ""
    MinPriceIncrement: float = 0.0
    PriceDisplayFormat: int = PRICE_DISPLAY_FORMAT_UNSET
    CurrencyValuePerIncrement: float = 0.0
    IsFinalMessage: int = 0
    FloatToIntPriceMultiplier: float = 1.0
    IntToFloatPriceDivisor: float = 1.0
    UnderlyingSymbol: str = ""
    UpdatesBidAskOnly: int = 0
    StrikePrice: float = 0.0
    PutOrCall: int = 0
    ShortInterest: int = 0
    SecurityExpirationDate: int = 0
    BuyRolloverInterest: float = 0.0
    SellRolloverInterest: float = 0.0
    EarningsPerShare: float = 0.0
    SharesOutstanding: int = 0
    IntToFloatQuantityDivisor: float = 0.0
    HasMarketDepthData: int = 1
    DisplayPriceMultiplier: float = 1.0
    ExchangeSymbol: str = ""
    InitialMarginRequirement: float = 0.0
    MaintenanceMarginRequirement: float = 0.0
    Currency: str = ""
    ContractSize: float = 0.0
    OpenInterest: int = 0
    RolloverDate: int = 0
    IsDelayed: int = 0
    SecurityIdentifier: int = 0
    ProductIdentifier: str = ""


@dataclass(frozen=True, slots=True)
class SecurityDefinitionReject:
    TYPE: ClassVar[int] = 509
    LAYOUT: ClassVar[Layout] = (("RequestID", "i"), ("RejectText", "96s"))
    RequestID: int = 0
    RejectText: str = ""


@dataclass(frozen=True, slots=True)
class HistoricalPriceDataRequest:
    TYPE: ClassVar[int] = 800
    LAYOUT: ClassVar[Layout] = (
        ("RequestID", "i"),
        ("Symbol", "64s"),
        ("Exchange", "16s"),
        ("RecordInterval", "i"),
        (None, "4x"),
        ("StartDateTime", "q"),
        ("EndDateTime", "q"),
        ("MaxDaysToReturn", "I"),
        ("UseZLibCompression", "B"),
        ("RequestDividendAdjustedStockData", "B"),
        ("Integer_1", "H"),
        ("UseZLibNGCompression", "B"),
        (None, "7x"),
    )
    RequestID: int = 0
    Symbol: str = ""
    Exchange: str = ""
    RecordInterval: int = 0
    StartDateTime: int = 0
    EndDateTime: int = 0
    MaxDaysToReturn: int = 0
    UseZLibCompression: int = 0
    RequestDividendAdjustedStockData: int = 0
    Integer_1: int = 0
    UseZLibNGCompression: int = 0


@dataclass(frozen=True, slots=True)
class HistoricalPriceDataResponseHeader:
    TYPE: ClassVar[int] = 801
    LAYOUT: ClassVar[Layout] = (
        ("RequestID", "i"),
        ("RecordInterval", "i"),
        ("UseZLibCompression", "B"),
        ("NoRecordsToReturn", "B"),
        (None, "2x"),
        ("IntToFloatPriceDivisor", "f"),
        ("UseZLibNGCompression", "B"),
        (None, "3x"),
    )
    RequestID: int = 0
    RecordInterval: int = 0
    UseZLibCompression: int = 0
    NoRecordsToReturn: int = 0
    IntToFloatPriceDivisor: float = 0.0
    UseZLibNGCompression: int = 0


@dataclass(frozen=True, slots=True)
class HistoricalPriceDataReject:
    TYPE: ClassVar[int] = 802
    LAYOUT: ClassVar[Layout] = (
        ("RequestID", "i"),
        ("RejectText", "96s"),
        ("RejectReasonCode", "h"),
        ("RetryTimeInSeconds", "H"),
    )
    RequestID: int = 0
    RejectText: str = ""
    RejectReasonCode: int = HPDR_UNSET
    RetryTimeInSeconds: int = 0


@dataclass(frozen=True, slots=True)
class HistoricalPriceDataRecordResponse:
    """`StartDateTime` is sent as whole UNIX seconds (t_DateTime), not microseconds.

    The header types it t_DateTimeWithMicrosecondsInt but adds "Format can also be t_DateTime. Check
    value to determine", and the message documentation types it t_DateTime. Seconds are therefore what
    every client reads correctly (one that follows the documentation would take microseconds for a
    date some 50,000 years ahead), and no stored bar is shorter than a second.

    `NumTrades` shares its four bytes with `OpenInterest` (a C union); bars carry trade counts.
    """

    TYPE: ClassVar[int] = 803
    LAYOUT: ClassVar[Layout] = (
        ("RequestID", "i"),
        ("StartDateTime", "q"),
        ("OpenPrice", "d"),
        ("HighPrice", "d"),
        ("LowPrice", "d"),
        ("LastPrice", "d"),
        ("Volume", "d"),
        ("NumTrades", "I"),
        (None, "4x"),
        ("BidVolume", "d"),
        ("AskVolume", "d"),
        ("IsFinalRecord", "B"),
        (None, "7x"),
    )
    RequestID: int = 0
    StartDateTime: int = 0
    OpenPrice: float = 0.0
    HighPrice: float = 0.0
    LowPrice: float = 0.0
    LastPrice: float = 0.0
    Volume: float = 0.0
    NumTrades: int = 0
    BidVolume: float = 0.0
    AskVolume: float = 0.0
    IsFinalRecord: int = 0


@dataclass(frozen=True, slots=True)
class HistoricalPriceDataTickRecordResponse:
    TYPE: ClassVar[int] = 804
    LAYOUT: ClassVar[Layout] = (
        ("RequestID", "i"),
        ("DateTime", "d"),
        ("AtBidOrAsk", "H"),
        (None, "6x"),
        ("Price", "d"),
        ("Volume", "d"),
        ("IsFinalRecord", "B"),
        (None, "7x"),
    )
    RequestID: int = 0
    DateTime: float = 0.0
    AtBidOrAsk: int = BID_ASK_UNSET
    Price: float = 0.0
    Volume: float = 0.0
    IsFinalRecord: int = 0


Message = (
    EncodingRequest
    | EncodingResponse
    | LogonRequest
    | LogonResponse
    | Heartbeat
    | Logoff
    | MarketDataRequest
    | MarketDataReject
    | MarketDataSnapshot
    | MarketDataUpdateTrade
    | MarketDataUpdateTradeCompact
    | MarketDataUpdateBidAsk
    | MarketDataUpdateBidAskCompact
    | SecurityDefinitionForSymbolRequest
    | SecurityDefinitionResponse
    | SecurityDefinitionReject
    | HistoricalPriceDataRequest
    | HistoricalPriceDataResponseHeader
    | HistoricalPriceDataReject
    | HistoricalPriceDataRecordResponse
    | HistoricalPriceDataTickRecordResponse
)

MESSAGE_CLASSES: tuple[type[Message], ...] = (
    EncodingRequest,
    EncodingResponse,
    LogonRequest,
    LogonResponse,
    Heartbeat,
    Logoff,
    MarketDataRequest,
    MarketDataReject,
    MarketDataSnapshot,
    MarketDataUpdateTrade,
    MarketDataUpdateTradeCompact,
    MarketDataUpdateBidAsk,
    MarketDataUpdateBidAskCompact,
    SecurityDefinitionForSymbolRequest,
    SecurityDefinitionResponse,
    SecurityDefinitionReject,
    HistoricalPriceDataRequest,
    HistoricalPriceDataResponseHeader,
    HistoricalPriceDataReject,
    HistoricalPriceDataRecordResponse,
    HistoricalPriceDataTickRecordResponse,
)
BY_TYPE: dict[int, type[Message]] = {cls.TYPE: cls for cls in MESSAGE_CLASSES}

# Types whose compact-JSON form packs every field but Type into one "F" array (spec §1.4).
COMPACT_JSON_TYPES: frozenset[int] = frozenset(
    {
        Heartbeat.TYPE,
        MarketDataSnapshot.TYPE,
        MarketDataUpdateTrade.TYPE,
        MarketDataUpdateTradeCompact.TYPE,
        MarketDataUpdateBidAsk.TYPE,
        MarketDataUpdateBidAskCompact.TYPE,
        HistoricalPriceDataRecordResponse.TYPE,
        HistoricalPriceDataTickRecordResponse.TYPE,
    }
)
