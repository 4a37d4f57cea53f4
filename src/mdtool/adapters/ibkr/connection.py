"""Connecting ib_async to IB Gateway/TWS, and keeping IB's error messages for our own messages.

ib_async reports most failures as log lines, empty results or a bare `TimeoutError`; a connection made
here raises `RequestError` for failed requests (`RaiseRequestErrors`) and remembers the recent error
messages, so a user sees IB's reason ("client id already in use", "no market data permissions") instead
of a silent empty backfill.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from ib_async import IB, Contract, StartupFetchNONE

from mdtool.errors import ExchangeError

log = logging.getLogger(__name__)

# Codes ib_async logs as warnings or that only report farm status: not failures.
INFO_CODES = frozenset({2104, 2106, 2107, 2108, 2119, 2158})


@dataclass(frozen=True)
class Endpoint:
    """Where IB Gateway/TWS listens (IBKR_HOST, IBKR_PORT) and the API client id (IBKR_CLIENT_ID)."""

    host: str = "127.0.0.1"
    port: int = 4001
    client_id: int = 1

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class ErrorLog:
    """The recent IB error messages seen on a connection, for error texts and status lines."""

    def __init__(self, ib: IB, size: int = 20) -> None:
        self._entries: deque[str] = deque(maxlen=size)
        self._count = 0
        ib.errorEvent += self._on_error

    def _on_error(self, _req_id: int, code: int, message: str, _contract: Contract | None) -> None:
        if code not in INFO_CODES:
            self._entries.append(f"IB error {code}: {message}")
            self._count += 1

    def mark(self) -> int:
        """A position to pass to `since` later."""
        return self._count

    def since(self, mark: int) -> list[str]:
        """Messages recorded after `mark` (at most the last `size`)."""
        new = min(self._count - mark, len(self._entries))
        return list(self._entries)[len(self._entries) - new :] if new > 0 else []


def new_ib() -> IB:
    """An IB client whose failed requests raise `RequestError` instead of returning empty results."""
    ib = IB()
    ib.RaiseRequestErrors = True
    return ib


async def connect(ib: IB, endpoint: Endpoint, errors: ErrorLog, timeout: float) -> None:
    """Connect read-only, skipping the account and order downloads a market-data tool never needs."""
    mark = errors.mark()
    try:
        await ib.connectAsync(
            endpoint.host,
            endpoint.port,
            clientId=endpoint.client_id,
            timeout=timeout,
            readonly=True,
            fetchFields=StartupFetchNONE,
        )
    except (OSError, ConnectionError) as error:
        reasons = errors.since(mark) or [_reason(error)]
        raise ExchangeError(
            f"cannot connect to IB Gateway/TWS at {endpoint} with client id {endpoint.client_id}: "
            f"{'; '.join(reasons)} (is it running with the API enabled on that port?)"
        ) from None
    log.info("connected to IB Gateway/TWS at %s (client id %d)", endpoint, endpoint.client_id)


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no API handshake before the timeout"
    return str(error) or type(error).__name__
