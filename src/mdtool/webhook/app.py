"""The Starlette app: `/health`, `/health/live` and `POST /webhooks/tradingview`.

Order of checks on an alert: size (413), signature (401), content (400), then storage, answering 200
only once the row is committed. Every worker process owns one `BatchingWriter` (created in the
lifespan) so concurrent alerts share batches; the event loop never waits on the database, it waits on
the writer's commit future with a deadline and answers 503 when the database is failing or slow. The
alert then stays queued and a retry is deduplicated by its `trade_id`.

Run it with `mdtool serve-webhook` or `uvicorn mdtool.webhook.app:create_app --factory`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mdtool.config import Settings, load_settings
from mdtool.errors import DatabaseError
from mdtool.migrate import current_revision, head_revision
from mdtool.records import Tick
from mdtool.storage.batching import BatchingWriter
from mdtool.storage.engine import check_connection, create_engine, safe_url, warn_if_plain_postgres
from mdtool.webhook.access import AccessLog
from mdtool.webhook.alerts import Alert, AlertError, parse_alert
from mdtool.webhook.options import WebhookOptions, load_options
from mdtool.webhook.receipts import ReceiptTimes, stored_receipt_time
from mdtool.webhook.signature import SignatureResult, secret_key, verify

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/webhooks/tradingview"
COMMIT_POLL = 0.25
RETRY_LATER = {"Retry-After": "5"}


class BodyTooLarge(Exception):
    """The declared or received body exceeds the limit."""


@dataclass
class Service:
    """What the handlers share within one worker process."""

    key: bytes
    options: WebhookOptions
    head: str
    engine: Engine
    writer: BatchingWriter
    receipts: ReceiptTimes


def create_app(settings: Settings | None = None, options: WebhookOptions | None = None) -> Starlette:
    """Build the app; raises `ConfigError` now (not at the first request) when the secret is unusable."""
    settings = settings if settings is not None else load_settings()
    key = secret_key(settings.tradingview_hmac_secret)
    options = options if options is not None else load_options()
    head = head_revision()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        try:
            await asyncio.to_thread(warn_if_plain_postgres, engine)
        except DatabaseError as error:
            log.warning("database not reachable at start-up, alerts get 503 until it is: %s", error)
        writer = BatchingWriter(
            engine, max_batch=1_000, flush_interval=0.005, retry_initial=0.25, retry_max=2.0
        )
        app.state.service = Service(key, options, head, engine, writer.start(), ReceiptTimes())
        log.info("webhook ready on %s, storing into %s", WEBHOOK_PATH, safe_url(engine))
        try:
            yield
        finally:
            await asyncio.to_thread(writer.close, 10.0)
            engine.dispose()

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/health/live", live, methods=["GET"]),
            Route(WEBHOOK_PATH, receive_alert, methods=["POST"]),
        ],
        middleware=[Middleware(AccessLog)],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )


async def live(_request: Request) -> Response:
    """Liveness: the process answers; says nothing about the database."""
    return JSONResponse({"status": "ok"})


async def health(request: Request) -> Response:
    """Readiness: the database answers and its schema is at the revision this code expects."""
    service: Service = request.app.state.service
    try:
        revision = await asyncio.wait_for(
            asyncio.to_thread(_schema_revision, service.engine), service.options.health_timeout
        )
    except TimeoutError:
        return _unavailable("the database did not answer in time")
    except DatabaseError as error:
        return _unavailable(str(error))
    if revision != service.head:
        return _unavailable(
            f"schema is at {revision or 'no revision'}, expected {service.head}: run mdtool migrate",
            database="ok",
            schema=revision,
        )
    return JSONResponse({"status": "ok", "database": "ok", "schema": revision})


def _schema_revision(engine: Engine) -> str | None:
    check_connection(engine)
    return current_revision(engine)


def _unavailable(reason: str, database: str = "unavailable", schema: str | None = None) -> Response:
    body = {"status": "unavailable", "database": database, "schema": schema, "reason": reason}
    return JSONResponse(body, status_code=503)


async def receive_alert(request: Request) -> Response:
    """Verify, validate and store one alert; 200 only after the commit."""
    service: Service = request.app.state.service
    received_at = datetime.now(UTC)
    try:
        body = await read_body(request, service.options.max_body)
    except BodyTooLarge:
        return error_response(request, 413, "body", f"larger than {service.options.max_body} bytes")
    except ClientDisconnect:
        return error_response(request, 400, "body", "the client disconnected while sending")
    signature = verify(service.key, body, request.headers.get("x-signature"))
    request.state.signature = signature.value
    if signature is not SignatureResult.VALID:
        problem = "missing" if signature is SignatureResult.MISSING else "does not match the body"
        return error_response(request, 401, "X-Signature", f"signature {problem}")
    try:
        alert = parse_alert(body, received_at)
    except AlertError as error:
        return error_response(request, 400, error.field, str(error))
    tick = alert.tick if alert.timed else await _first_receipt(service, alert, received_at)
    try:
        committed = service.writer.submit(tick)
    except DatabaseError as error:
        return error_response(request, 503, "database", str(error), RETRY_LATER)
    if await _wait_for_commit(service, committed):
        return JSONResponse({"status": "stored", "trade_id": tick.trade_id})
    message = "the database is not storing alerts right now (the alert is queued); retry to confirm"
    return error_response(request, 503, "database", message, RETRY_LATER)


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


def error_response(
    request: Request, status: int, field: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON error every failure answers with; the request id ties it to the access log line."""
    request_id = request.scope.get("state", {}).get("request_id")
    body = {"error": message, "field": field, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods answer in JSON like everything else."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    response = error_response(request, status, "path", detail)
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)
    return response


async def internal_error(request: Request, exc: Exception) -> Response:
    """Last resort: a bug answers a JSON 500 without a traceback (the log has it)."""
    log.error("unexpected %s while handling %s", type(exc).__name__, request.url.path)
    return error_response(request, 500, "server", "internal error")
