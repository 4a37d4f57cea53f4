"""A fake IB Gateway on loopback that speaks the TWS API wire protocol at server version 178.

Frames are a 4-byte big-endian length followed by NUL-terminated text fields, after the `API\\0` +
`v<min>..<max>` handshake; everything is written from the public protocol facts in
`shared/reference/tws-api-wire.md`, so the real, unmodified ib_async drives it.

Split by concern: `wire` (framing), `handshake` (version, startApi, start-up requests), `contracts`
(contract details; unknown is error 200, several matches are all returned), `bars` (historical bars,
generated deterministically, the in-progress bar included as IB does, `keepUpToDate`, step-size limits),
`pacing` (IB's historical pacing rules at server receive time: a violating request gets error 162 and is
recorded in `violations`, which tests assert to be empty), `tape` (tick-by-tick subscriptions fed by
`push_trade` / `push_bid_ask`), and `gateway` (the server, its sessions and the failure knobs).

Failure knobs: `drop_connections()` (hard reset of every client socket), `stop_listening()` /
`start_listening()` (gateway down / restarted on the same port), `send_error()` (1100/1101/1102...),
`drop_on_next(msg)` (reset the socket when that request arrives), `ignore` (message ids left unanswered,
as by a minimal gateway) and `pace_head_timestamps` (count reqHeadTimeStamp as a historical request).
Run it standalone with `python -m tests.fakes.ib_gateway --port 4001`.
"""

from tests.fakes.ib_gateway.contracts import FakeContract
from tests.fakes.ib_gateway.gateway import FakeIBGateway
from tests.fakes.ib_gateway.pacing import HistoricalRequest, PacingRules
from tests.fakes.ib_gateway.tape import TickSubscription
from tests.fakes.ib_gateway.wire import ACCOUNT, encode

__all__ = [
    "ACCOUNT",
    "FakeContract",
    "FakeIBGateway",
    "HistoricalRequest",
    "PacingRules",
    "TickSubscription",
    "encode",
]
