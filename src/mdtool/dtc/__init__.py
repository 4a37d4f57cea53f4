"""Sierra Chart's Data and Trading Communications protocol: a pure codec and a data-service server.

The surface other code may rely on is `__all__` (tested): the sans-I/O codec (`encode`, `Decoder`,
the message classes in `messages`), the sans-I/O server protocol (`ServerProtocol` and its events), the
errors that say whose fault a failure is, and the asyncio server (`serve`, `DtcServer`, its
`ServerConfig` and `ServerStats`). Everything else is internal and may change.
"""

from mdtool.dtc import messages
from mdtool.dtc.codec import SUPPORTED_ENCODINGS, Decoder, decode_binary, encode, encode_batch
from mdtool.dtc.errors import LocalProtocolError, RemoteProtocolError
from mdtool.dtc.protocol import (
    Clock,
    ConnectionClosed,
    ProtocolConfig,
    RequestReceived,
    ServerProtocol,
    Unsubscribed,
)
from mdtool.dtc.server import DtcServer, serve
from mdtool.dtc.session import ServerConfig
from mdtool.dtc.stats import ServerStats

__all__ = [
    "SUPPORTED_ENCODINGS",
    "Clock",
    "ConnectionClosed",
    "Decoder",
    "DtcServer",
    "LocalProtocolError",
    "ProtocolConfig",
    "RemoteProtocolError",
    "RequestReceived",
    "ServerConfig",
    "ServerProtocol",
    "ServerStats",
    "Unsubscribed",
    "decode_binary",
    "encode",
    "encode_batch",
    "messages",
    "serve",
]
