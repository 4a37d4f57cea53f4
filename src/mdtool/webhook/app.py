"""The Starlette app: `/health`, `/health/live` and `POST /webhooks/tradingview` (`webhook.intake`).

Every worker process owns one `BatchingWriter` (created in the lifespan) so concurrent alerts share
batches. `create_app` is the library entry point: `mdtool serve-webhook` runs it under uvicorn
(`webhook.serve`), and so does `mdtool run`, in process, reading `AlertCounts` for its metrics.
`uvicorn mdtool.webhook.app:create_app --factory` works too, except for the `tls-client-cert` mode:
its check lives in the TLS context that `webhook.serve` builds (see `webhook.tls`), so the app in that
mode refuses to start unless `webhook.serve` marked it as served with that context.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mdtool.config import Settings, load_settings, load_webhook_settings
from mdtool.errors import ConfigError, DatabaseError
from mdtool.migrate import current_revision, head_revision
from mdtool.storage.batching import BatchingWriter
from mdtool.storage.engine import check_connection, create_engine, safe_url, warn_if_plain_postgres
from mdtool.webhook.access import AccessLog, AlertCounts
from mdtool.webhook.auth import Auth, AuthMode, auth_from
from mdtool.webhook.intake import Service, error_response, receive_alert
from mdtool.webhook.options import WebhookOptions, load_options
from mdtool.webhook.receipts import ReceiptTimes

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/webhooks/tradingview"


def create_app(
    settings: Settings | None = None,
    options: WebhookOptions | None = None,
    auth: Auth | None = None,
    counts: AlertCounts | None = None,
) -> Starlette:
    """Build the app; raises `ConfigError` now (not at the first request) when no usable authentication
    is configured. Unset arguments come from the environment; `counts` (also `app.state.alert_counts`)
    is where answers to alerts are counted by status.
    """
    settings = settings if settings is not None else load_settings()
    auth = auth if auth is not None else auth_from(settings, load_webhook_settings())
    options = options if options is not None else load_options()
    counts = counts if counts is not None else AlertCounts()
    head = head_revision()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        checked = getattr(app.state, "client_certificates_checked", False)
        if auth.uses(AuthMode.TLS_CLIENT_CERT) and not checked:
            raise ConfigError(
                "tls-client-cert: this server does not check client certificates; serve the app with "
                "`mdtool serve-webhook --ssl-certfile ...` or `mdtool.webhook.webhook_server(..., tls)`"
            )
        engine = create_engine(settings.database_url)
        try:
            await asyncio.to_thread(warn_if_plain_postgres, engine)
        except DatabaseError as error:
            log.warning("database not reachable at start-up, alerts get 503 until it is: %s", error)
        writer = BatchingWriter(
            engine, max_batch=1_000, flush_interval=0.005, retry_initial=0.25, retry_max=2.0
        )
        app.state.service = Service(auth, options, head, engine, writer.start(), ReceiptTimes())
        log.info(
            "webhook ready on %s (authentication: %s), storing into %s",
            WEBHOOK_PATH,
            auth.describe(),
            safe_url(engine),
        )
        try:
            yield
        finally:
            await asyncio.to_thread(writer.close, 10.0)
            engine.dispose()

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/health/live", live, methods=["GET"]),
            Route(WEBHOOK_PATH, receive_alert, methods=["POST"]),
        ],
        middleware=[Middleware(AccessLog, counts=counts, counted_path=WEBHOOK_PATH)],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.alert_counts = counts
    return app


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
