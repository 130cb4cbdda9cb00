"""`create_sandbox_app()`: the Stripe-compatible sandbox as an ASGI app to mount at `/_sandbox`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ais.payments.sandbox import checkout_page, inspection, rest
from ais.payments.sandbox.config import DEFAULT_SCHEMA, DeliveryMode, DeliveryPolicy, SandboxConfig
from ais.payments.sandbox.runtime import Sandbox


def create_sandbox_app(
    *,
    secret_key: str,
    webhook_secret: str,
    public_base_url: str,
    webhook_url: str | None = None,
    delivery: DeliveryMode = "on",
    database_path: Path | None = None,
    database_url: str | None = None,
    database_schema: str = DEFAULT_SCHEMA,
    delivery_policy: DeliveryPolicy | None = None,
    clock: Callable[[], float] | None = None,
) -> FastAPI:
    """The sandbox app. Its routes are relative (`/stripe/v1/…`, `/checkout/{id}`,
    `/events/{id}/deliveries`): mount it at `/_sandbox`, the path its own links assume.

    - `secret_key` is the only API key it accepts; `webhook_secret` signs its events.
    - `public_base_url` is where clients reach the host app: it builds the session `url`
      (`{public_base_url}/_sandbox/checkout/{id}`) and the default `webhook_url`
      (`{public_base_url}/webhooks/stripe`).
    - `delivery="off"` records events without sending them.
    - State: in memory by default; `database_path` (a SQLite file) keeps it across restarts;
      `database_url` (`sqlite:///…` or `postgresql://…`) names the store, on PostgreSQL with
      its tables in `database_schema` (see `store.py`: only PostgreSQL runs calls in parallel).
    - `clock` (unix seconds) moves the sandbox's business time in tests.

    Mounted apps get no lifespan of their own: the host calls `sandbox_of(app).start()` on
    start-up and `.close()` on shutdown (the first request starts it otherwise). Run alone
    (e.g. `uvicorn`), the app's own lifespan does both.
    """
    config = SandboxConfig(
        secret_key=secret_key,
        webhook_secret=webhook_secret,
        public_base_url=public_base_url,
        webhook_url=webhook_url,
        delivery=delivery,
        database_path=database_path,
        database_url=database_url,
        database_schema=database_schema,
        delivery_policy=delivery_policy or DeliveryPolicy(),
        clock=clock or time.time,
    )
    sandbox = Sandbox(config)
    app = FastAPI(title="AIS payment sandbox (Stripe-compatible)", lifespan=lifespan_of(sandbox),
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = sandbox
    app.include_router(checkout_page.router)
    app.include_router(inspection.router)
    # The hosted page's stylesheet (shared with AIS's own payment result pages).
    app.mount("/static", StaticFiles(packages=[("ais", "static")]), name="sandbox-static")
    app.include_router(rest.router)  # last: it ends with the catch-all 404
    return app


def lifespan_of(sandbox: Sandbox) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """An app lifespan that starts the sandbox (its store, its delivery loop) and closes it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await sandbox.start()
        try:
            yield
        finally:
            await sandbox.close()

    return lifespan


def sandbox_of(app: FastAPI) -> Sandbox:
    """The `Sandbox` behind an app made by `create_sandbox_app` (for `start()` / `close()`)."""
    sandbox = getattr(app.state, "sandbox", None)
    if not isinstance(sandbox, Sandbox):
        raise TypeError("not an app made by create_sandbox_app()")
    return sandbox
