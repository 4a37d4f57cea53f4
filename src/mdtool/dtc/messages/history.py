"""Historical price data messages: the request, its header or reject, bar and tick records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mdtool.dtc.messages.enums import BID_ASK_UNSET, HPDR_UNSET, Layout


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
