"""DTC message types (protocol version 8) as plain value objects, with their binary layouts.

Attribute names are the C struct field names of `DTCProtocol.h`, because the JSON encodings use exactly
those names on the wire and because the spec, Sierra Chart's documentation and any packet dump speak in
them. Each class carries its type id and its layout: the little-endian `struct` codes of its fields in
struct order, with the padding that `#pragma pack(8)` inserts written out as `x` entries (no name), so
the codec never depends on native alignment. The classes live in one module per concern (connection,
market data, history); this package gathers them and the registries the codec needs.
"""

from __future__ import annotations

from mdtool.dtc.messages.connection import (
    EncodingRequest,
    EncodingResponse,
    Heartbeat,
    Logoff,
    LogonRequest,
    LogonResponse,
)
from mdtool.dtc.messages.enums import (
    AT_ASK,
    AT_BID,
    BID_ASK_UNSET,
    BINARY_ENCODING,
    BINARY_WITH_VARIABLE_LENGTH_STRINGS,
    CURRENT_VERSION,
    DBL_MAX,
    FLT_MAX,
    HISTORICAL_DATA_INTERVALS,
    HPDR_GENERAL_REJECT_ERROR,
    HPDR_UNSET,
    INTERVAL_TICK,
    JSON_COMPACT_ENCODING,
    JSON_ENCODING,
    LOGON_ERROR,
    LOGON_ERROR_NO_RECONNECT,
    LOGON_SUCCESS,
    PRICE_DISPLAY_FORMAT_UNSET,
    PROTOCOL_BUFFERS,
    SECURITY_TYPE_UNSET,
    SNAPSHOT,
    SNAPSHOT_WITH_INTERVAL_UPDATES,
    SUBSCRIBE,
    UINT_MAX,
    UNSUBSCRIBE,
    Layout,
)
from mdtool.dtc.messages.history import (
    HistoricalPriceDataRecordResponse,
    HistoricalPriceDataReject,
    HistoricalPriceDataRequest,
    HistoricalPriceDataResponseHeader,
    HistoricalPriceDataTickRecordResponse,
)
from mdtool.dtc.messages.market import (
    MarketDataReject,
    MarketDataRequest,
    MarketDataSnapshot,
    MarketDataUpdateBidAsk,
    MarketDataUpdateBidAskCompact,
    MarketDataUpdateTrade,
    MarketDataUpdateTradeCompact,
    SecurityDefinitionForSymbolRequest,
    SecurityDefinitionReject,
    SecurityDefinitionResponse,
)

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

__all__ = [
    "AT_ASK",
    "AT_BID",
    "BID_ASK_UNSET",
    "BINARY_ENCODING",
    "BINARY_WITH_VARIABLE_LENGTH_STRINGS",
    "BY_TYPE",
    "COMPACT_JSON_TYPES",
    "CURRENT_VERSION",
    "DBL_MAX",
    "FLT_MAX",
    "HISTORICAL_DATA_INTERVALS",
    "HPDR_GENERAL_REJECT_ERROR",
    "HPDR_UNSET",
    "INTERVAL_TICK",
    "JSON_COMPACT_ENCODING",
    "JSON_ENCODING",
    "LOGON_ERROR",
    "LOGON_ERROR_NO_RECONNECT",
    "LOGON_SUCCESS",
    "MESSAGE_CLASSES",
    "PRICE_DISPLAY_FORMAT_UNSET",
    "PROTOCOL_BUFFERS",
    "SECURITY_TYPE_UNSET",
    "SNAPSHOT",
    "SNAPSHOT_WITH_INTERVAL_UPDATES",
    "SUBSCRIBE",
    "UINT_MAX",
    "UNSUBSCRIBE",
    "EncodingRequest",
    "EncodingResponse",
    "Heartbeat",
    "HistoricalPriceDataRecordResponse",
    "HistoricalPriceDataReject",
    "HistoricalPriceDataRequest",
    "HistoricalPriceDataResponseHeader",
    "HistoricalPriceDataTickRecordResponse",
    "Layout",
    "Logoff",
    "LogonRequest",
    "LogonResponse",
    "MarketDataReject",
    "MarketDataRequest",
    "MarketDataSnapshot",
    "MarketDataUpdateBidAsk",
    "MarketDataUpdateBidAskCompact",
    "MarketDataUpdateTrade",
    "MarketDataUpdateTradeCompact",
    "Message",
    "SecurityDefinitionForSymbolRequest",
    "SecurityDefinitionReject",
    "SecurityDefinitionResponse",
]
