"""Connecting ib_async to IB Gateway/TWS, and keeping IB's error messages for our own messages.

ib_async reports most failures as log lines, empty results or a bare `TimeoutError`; a connection made
here raises `RequestError` for failed requests (`RaiseRequestErrors`) and remembers the recent error
messages, so a user sees IB's reason ("client id already in use", "no market data permissions") instead
of a silent empty backfill.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from ib_async import IB, Contract

from mdtool.errors import ExchangeError

log = logging.getLogger(__name__)

CLIENT_ID_IN_USE = 326
SPARE_CLIENT_IDS = 5  # further client ids tried when IBKR_CLIENT_ID is taken
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
    """Handshake and startApi only, ready once IB sent managedAccounts and nextValidId.

    `IB.connectAsync` then always asks for positions (even read-only with nothing to fetch) and waits up
    to `timeout` for the answer, which a market-data tool never uses; a gateway that leaves it unanswered
    would cost every connection that long. The client-level connect is all that market data needs.

    A client id already in use (error 326: typically a `stream` running while cron starts a backfill
    with the same IBKR_CLIENT_ID) is not fatal for market data: the next few ids are tried.
    """
    last = endpoint.client_id + SPARE_CLIENT_IDS
    for client_id in range(endpoint.client_id, last + 1):
        mark = errors.mark()
        try:
            await _handshake(ib, endpoint, client_id, timeout)
        except (OSError, ConnectionError) as error:
            reasons = errors.since(mark) or [_reason(error)]
            if isinstance(error, _ClientIdInUse) and client_id < last:
                log.warning("client id %d is in use at %s; trying %d", client_id, endpoint, client_id + 1)
                continue
            raise ExchangeError(
                f"cannot connect to IB Gateway/TWS at {endpoint} with client id {client_id}: "
                f"{'; '.join(reasons)} (is it running with the API enabled on that port?)"
            ) from None
        log.info("connected to IB Gateway/TWS at %s (client id %d)", endpoint, client_id)
        return


class _ClientIdInUse(ConnectionError):
    pass


async def _handshake(ib: IB, endpoint: Endpoint, client_id: int, timeout: float) -> None:
    """`Client.connectAsync`, cut short by error 326: IB then closes the socket, but ib_async would
    wait for the API to start until `timeout`."""
    refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_error(_req_id: int, code: int, _message: str, _contract: Contract | None) -> None:
        if code == CLIENT_ID_IN_USE and not refused.done():
            refused.set_result(None)

    ib.wrapper.clientId = client_id
    ib.errorEvent += on_error
    task = asyncio.ensure_future(
        ib.client.connectAsync(endpoint.host, endpoint.port, client_id, timeout)  # type: ignore[no-untyped-call]
    )
    either: set[asyncio.Future[Any]] = {task, refused}
    try:
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when the caller is cancelled (stop requested): no handshake left running
        ib.errorEvent -= on_error
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        raise _ClientIdInUse(f"client id {client_id} is already in use")
    task.result()


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no API handshake before the timeout"
    return str(error) or type(error).__name__
