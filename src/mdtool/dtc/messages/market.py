"""Market data and symbol discovery messages: requests, snapshots, live updates, definitions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mdtool.dtc.messages.enums import (
    BID_ASK_UNSET,
    DBL_MAX,
    FLT_MAX,
    PRICE_DISPLAY_FORMAT_UNSET,
    SECURITY_TYPE_UNSET,
    SUBSCRIBE,
    UINT_MAX,
    Layout,
)


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
