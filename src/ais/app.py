"""create_app(): wires settings, routers, middleware and error handlers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from ais import __version__
from ais.audit.routes import router as audit_router
from ais.bookings.admin_routes import router as admin_bookings_router
from ais.bookings.routes import router as bookings_router
from ais.config import Settings, get_settings
from ais.flights.admin_routes import router as admin_flights_router
from ais.flights.airports import AirportDirectory
from ais.flights.routes import router as flights_router
from ais.flights.search_fast_path import SearchFastPathMiddleware
from ais.http.api_docs import install_api_docs
from ais.http.body_limit import BodyLimitMiddleware
from ais.http.errors import install_error_handlers
from ais.http.health import router as health_router
from ais.http.operation_ids import operation_id
from ais.http.request_context import RequestContextMiddleware
from ais.http.security_headers import SecurityHeadersMiddleware
from ais.http.text_guard import refuse_nul_characters
from ais.http.trusted_proxy import TrustedProxyMiddleware
from ais.identity.access_check import AccessStateCache
from ais.identity.admin_routes import router as admin_users_router
from ais.identity.routes import router as identity_router
from ais.jobs.worker import start_in_process_worker
from ais.ledger.routes import router as ledger_router
from ais.maintenance.routes import router as maintenance_router
from ais.maintenance.service import MaintenanceCache
from ais.ops.logging import configure_logging, get_logger
from ais.ops.metrics import process_exiting
from ais.ops.proxy_headers import parse_networks
from ais.payments.admin_routes import router as provider_events_router
from ais.payments.pages import router as payment_pages_router
from ais.payments.routes import admin_router as admin_payments_router
from ais.payments.routes import router as payments_router
from ais.payments.routes import webhook_router
from ais.reconciliation.routes import router as reconciliation_router
from ais.wiring import create_runtime

DESCRIPTION = """
AIS sells seats on an airline's flights and keeps the money right.

Every error answers with one body: `{code, message, correlationId, retryable, details}`.
Writes that create or move money require an `Idempotency-Key` header.
Every response carries `X-Correlation-Id`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.check_startup()  # settings built in code (tests, embedding) get the same refusals
    configure_logging(settings.log_level, production=settings.is_production)
    _init_sentry(settings)
    runtime = create_runtime(settings)
    sandbox_app = None if settings.is_production else _sandbox_app(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Not imported at module level: production never loads the sandbox.
        from ais.payments.sandbox import sandbox_of

        if sandbox_app is not None:  # Starlette does not run a mounted app's lifespan
            await sandbox_of(sandbox_app).start()
        stop_jobs = start_in_process_worker(runtime) if settings.jobs_in_process else None
        get_logger("ais").info("started", env=settings.ais_env, jobs_in_process=settings.jobs_in_process)
        try:
            yield
        finally:
            if stop_jobs is not None:
                await stop_jobs()
            if sandbox_app is not None:
                await sandbox_of(sandbox_app).close()
            await runtime.close()
            process_exiting()

    app = FastAPI(
        title="AIS airline booking API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        # FastAPI's own docs pages load Swagger UI and ReDoc from a CDN: /docs serves Swagger UI
        # locally (ais.http.api_docs); ReDoc is off, its bundle always fetches a logo from a CDN.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        dependencies=[Depends(refuse_nul_characters)],
        # Observability is Prometheus, structlog and Sentry: FastAPI's own OpenTelemetry hooks
        # would otherwise look for a configured provider (environment reads) on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    # Per-process memories the routes read (not the jobs): airports for search and the pickers,
    # which access tokens are still honoured (read at most 5 s ago).
    app.state.airports = AirportDirectory()
    app.state.access_states = AccessStateCache()
    app.state.maintenance = MaintenanceCache()  # read at most a second ago
    install_error_handlers(app)
    # Added innermost first: the request context wraps everything, so each answer (413 included)
    # carries the correlation id and is logged.
    app.add_middleware(SearchFastPathMiddleware)  # innermost: every other layer applies to its answers
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(TrustedProxyMiddleware, trusted=parse_networks(settings.forwarded_allow_ips))
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: even the last-resort 500 gets them
    _include_routers(app, settings)
    install_api_docs(app)
    if sandbox_app is not None:
        app.mount("/_sandbox", sandbox_app)
    # Everything built so far (modules, routes, schemas) lives as long as the process: move it out
    # of the collector's generations so that each collection scans only request garbage.
    gc.freeze()
    return app


def _sandbox_app(settings: Settings) -> FastAPI:
    """The Stripe-compatible sandbox, mounted at /_sandbox in every mode but production."""
    # Not imported at module level: production never loads the sandbox.
    from ais.payments.sandbox import create_sandbox_app

    assert settings.stripe_secret_key and settings.stripe_webhook_secret
    return create_sandbox_app(
        secret_key=settings.stripe_secret_key,
        webhook_secret=settings.stripe_webhook_secret,
        public_base_url=settings.public_base_url,
        delivery=settings.sandbox_webhook_delivery,
        database_path=settings.ais_data_dir / "sandbox.db",
    )


def _include_routers(app: FastAPI, settings: Settings) -> None:
    for router in (
        health_router,
        identity_router,
        flights_router,
        bookings_router,
        admin_flights_router,
        admin_bookings_router,
        admin_users_router,
        payments_router,
        admin_payments_router,
        ledger_router,
        provider_events_router,
        webhook_router,
        payment_pages_router,
        audit_router,
        reconciliation_router,
        maintenance_router,
    ):
        app.include_router(router)


def _init_sentry(settings: Settings) -> None:
    if not settings.sentry_dsn:
        return
    import sentry_sdk

    # send_default_pii=False keeps headers (tokens), bodies and IPs out of Sentry.
    sentry_sdk.init(dsn=settings.sentry_dsn, environment=settings.ais_env, send_default_pii=False,
                    traces_sample_rate=0.0)
