"""`POST /webhooks/tradingview`: authenticate, validate and store one alert, 200 only after the commit.

Order of checks: client certificate (in the TLS handshake), source address (403), size (413),
signature (401), JSON (400), passphrase (401), content (400), then storage. Only a request that
passed every configured authentication mode is "authenticated": its refusals are kept in the rejects
table (`webhook.rejects`), answering 400 only once that row is committed. A body that is not JSON
cannot carry a passphrase, so in passphrase mode it is answered 400 but, being unauthenticated,
never stored. Every refusal is logged with its request id and reason, never a secret.

The event loop never waits on the database: it waits on the writer's commit future with a deadline
and answers 503 when the database is failing or slow. The alert then stays queued and a retry is
deduplicated by its `trade_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from mdtool.errors import DatabaseError
from mdtool.records import Tick
from mdtool.storage.batching import BatchingWriter
from mdtool.webhook.alerts import Alert, AlertError, alert_from, body_digest, load_document
from mdtool.webhook.auth import Auth, AuthMode, allowed, client_address, take_passphrase
from mdtool.webhook.options import WebhookOptions
from mdtool.webhook.receipts import ReceiptTimes, stored_receipt_time
from mdtool.webhook.rejects import Reject, body_text, store_reject
from mdtool.webhook.signature import SignatureResult, verify

log = logging.getLogger(__name__)
COMMIT_POLL = 0.25
RETRY_LATER = {"Retry-After": "5"}


class BodyTooLarge(Exception):
    """The declared or received body exceeds the limit."""


@dataclass
class Service:
    """What the handlers share within one worker process."""

    auth: Auth
    options: WebhookOptions
    head: str
    engine: Engine
    writer: BatchingWriter
    receipts: ReceiptTimes


async def receive_alert(request: Request) -> Response:
    """Verify, validate and store one alert; 200 only after the commit."""
    service: Service = request.app.state.service
    auth = service.auth
    received_at = datetime.now(UTC)
    refusal = _connection_refusal(auth, request)
    if refusal is not None:
        return refuse(request, *refusal)
    try:
        body = await read_body(request, service.options.max_body)
    except BodyTooLarge:
        return refuse(request, 413, "body", f"larger than {service.options.max_body} bytes")
    except ClientDisconnect:
        return refuse(request, 400, "body", "the client disconnected while sending")
    if auth.hmac_key is not None:
        signature = verify(auth.hmac_key, body, request.headers.get("x-signature"))
        request.state.signature = signature.value
        if signature is not SignatureResult.VALID:
            problem = "missing" if signature is SignatureResult.MISSING else "does not match the body"
            return refuse(request, 401, "X-Signature", f"signature {problem}")
    try:
        document = load_document(body)
    except AlertError as error:
        if auth.passphrase is not None:  # unauthenticated: answered, never stored
            return refuse(request, 400, error.field, str(error))
        return await keep_reject(service, request, received_at, error, body_text(body))
    if auth.passphrase is not None:
        wrong = take_passphrase(document, auth.passphrase)
        if wrong is not None:
            return refuse(request, 401, "passphrase", wrong)
    digest, kept = _identity(body, document, auth)
    try:
        alert = alert_from(document, digest, received_at)
    except AlertError as error:
        return await keep_reject(service, request, received_at, error, kept)
    return await _store(service, request, alert, received_at)


def _connection_refusal(auth: Auth, request: Request) -> tuple[int, str, str] | None:
    """Status, field and reason when the source address is refused (the certificate was checked in
    the TLS handshake, see `webhook.tls`)."""
    peer = request.scope.get("client")
    forwarded = request.headers.getlist("x-forwarded-for")
    client = client_address(peer[0] if peer else None, forwarded, auth.trusted_proxies)
    request.state.client = client
    if auth.uses(AuthMode.IP_ALLOWLIST) and not allowed(client, auth.allow_ips):
        return 403, "client", f"source address {client} is not in the allowlist"
    return None


def _identity(body: bytes, document: dict[str, Any], auth: Auth) -> tuple[str, str]:
    """The delivery digest and the text a reject row keeps.

    In passphrase mode both come from the document without its passphrase (re-serialised), so that
    neither the stored body nor a digest one could test guesses against holds the secret.
    """
    if auth.passphrase is None:
        return body_digest(body), body_text(body)
    text = json.dumps(document, default=str, separators=(",", ":"))
    return body_digest(text.encode()), text


async def _store(service: Service, request: Request, alert: Alert, received_at: datetime) -> Response:
    tick = alert.tick if alert.timed else await _first_receipt(service, alert, received_at)
    try:
        committed = service.writer.submit(tick)
    except DatabaseError as error:
        return refuse(request, 503, "database", str(error), RETRY_LATER)
    if await _wait_for_commit(service, committed):
        return JSONResponse({"status": "stored", "trade_id": tick.trade_id})
    message = "the database is not storing alerts right now (the alert is queued); retry to confirm"
    return refuse(request, 503, "database", message, RETRY_LATER)


async def keep_reject(
    service: Service, request: Request, received_at: datetime, error: AlertError, text: str
) -> Response:
    """Record an authenticated alert's refusal, then answer 400 (503 when it cannot be recorded)."""
    reject = Reject(
        request_id=_request_id(request),
        received_at=received_at,
        status_code=400,
        reason=str(error),
        field=error.field,
        content_type=request.headers.get("content-type"),
        body=text,
    )
    try:
        await asyncio.wait_for(
            asyncio.to_thread(store_reject, service.engine, reject), service.options.commit_timeout
        )
    except (DatabaseError, TimeoutError) as failure:
        log.error("%s could not record the refused alert: %s", reject.request_id, failure or "timed out")
        message = f"{error} (the refusal could not be recorded: the database is unavailable; retry)"
        return refuse(request, 503, "database", message, RETRY_LATER)
    return refuse(request, 400, error.field, str(error), kept=True)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing early on `Content-Length` and again while counting streamed bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _first_receipt(service: Service, alert: Alert, received_at: datetime) -> Tick:
    """Stamp a time-less alert with the receipt time of its first delivery (see `receipts`)."""
    moment, new = service.receipts.claim(alert.digest, received_at)
    if new and alert.tick.trade_id == alert.digest:
        try:
            stored = await asyncio.wait_for(
                asyncio.to_thread(stored_receipt_time, service.engine, alert.tick, received_at),
                service.options.lookup_timeout,
            )
        except (DatabaseError, TimeoutError):
            stored = None
        if stored is not None:
            service.receipts.remember(alert.digest, stored)
            moment = stored
    return dataclasses.replace(alert.tick, timestamp=moment)


async def _wait_for_commit(service: Service, committed: Future[None]) -> bool:
    """True once committed; False at once when the writer is failing, or after `commit_timeout`.

    The concurrent future is observed through a callback and never cancelled: the writer thread
    completes it later, and completing a cancelled future would raise inside the writer.
    """
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def wake(_future: Future[None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            loop.call_soon_threadsafe(done.set)

    committed.add_done_callback(wake)
    deadline = loop.time() + service.options.commit_timeout
    while not committed.done():
        remaining = deadline - loop.time()
        if not service.writer.healthy or remaining <= 0:
            return committed.done()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(COMMIT_POLL, remaining)):  # no extra task, unlike wait_for
                await done.wait()
    return True


def _request_id(request: Request) -> str:
    request_id: str = request.scope.get("state", {}).get("request_id", "-")
    return request_id


def refuse(
    request: Request,
    status: int,
    field: str,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    kept: bool = False,
) -> JSONResponse:
    """Log the refusal (request id, status, reason, client) and answer with the JSON error."""
    client = request.scope.get("state", {}).get("client") or "-"
    log.warning(
        "%s refused %d %s: %s (client %s%s)",
        _request_id(request),
        status,
        field,
        message,
        client,
        "; kept in market_data_webhook_rejects" if kept else "",
    )
    return error_response(request, status, field, message, headers)


def error_response(
    request: Request, status: int, field: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON error every failure answers with; the request id ties it to the access log line."""
    request_id = request.scope.get("state", {}).get("request_id")
    body = {"error": message, "field": field, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers=headers)
