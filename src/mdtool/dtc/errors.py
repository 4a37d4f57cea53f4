"""Whose fault a DTC failure is, as h11 tells `LocalProtocolError` from `RemoteProtocolError`.

A peer that breaks the protocol (a truncated frame, a Size below the header, malformed JSON) gets a
LOGOFF naming the problem and is asked not to reconnect, since reconnecting would only repeat it. A
failure of ours (a stored value that cannot be encoded, say) is logged and the one request it touched is
answered with a reject; the client is never told it misbehaved, and its session goes on.
"""

from __future__ import annotations

from mdtool.errors import MdtoolError, ProtocolError

# The peer broke the protocol: `mdtool.errors.ProtocolError` has always meant exactly this.
RemoteProtocolError = ProtocolError


class LocalProtocolError(MdtoolError):
    """mdtool could not produce a valid DTC message (a value out of its field's range, a NaN in JSON)."""


__all__ = ["LocalProtocolError", "RemoteProtocolError"]
