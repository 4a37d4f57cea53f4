"""DTC constants and enum values (protocol version 8), named as in `DTCProtocol.h`."""

from __future__ import annotations

import sys

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

# HistoricalDataIntervalEnum: RecordInterval in seconds, 0 = ticks.
INTERVAL_TICK = 0
HISTORICAL_DATA_INTERVALS: tuple[int, ...] = (
    0, 1, 2, 4, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 86400, 604800,
)  # fmt: skip
