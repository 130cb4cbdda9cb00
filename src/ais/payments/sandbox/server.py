"""`ais sandbox`: the Stripe-compatible sandbox as its own server process.

In a load test the sandbox must not share the API's processes (it would slow them down) nor
serialise its calls: here it runs alone under uvicorn, mounted at `/_sandbox` exactly as the API
mounts it, so `STRIPE_API_BASE=http://H:P/_sandbox/stripe` reaches it and its hosted checkout
lives at `http://H:P/_sandbox/checkout/{id}`. It delivers its events to `SANDBOX_WEBHOOK_URL`
(default: the AIS server at `PUBLIC_BASE_URL`), signed with `STRIPE_WEBHOOK_SECRET`, and keeps
its state in `SANDBOX_DATABASE_URL` (default: a SQLite file in the data dir; PostgreSQL for load).

Refused in production (the real Stripe is the provider there) and with a live key.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from ais.config import Settings
from ais.ops.listener import bind_listener
from ais.ops.logging import configure_logging
from ais.payments.sandbox.app import create_sandbox_app, lifespan_of, sandbox_of
from ais.payments.sandbox.config import MOUNT_PATH
from ais.payments.sandbox.store import SandboxStorageError, Store, is_postgres_url

LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")


class SandboxCommandError(Exception):
    """`ais sandbox` cannot run: one line for the operator, and the exit code (2: fix a setting
    or an option; 1: something failed at run time)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ServerPlan:
    """What the command will run, decided (and checked) before anything starts."""

    base_url: str
    settings: Settings
    store_url: str
    webhook_url: str

    @property
    def api_base(self) -> str:
        return f"{self.base_url}{MOUNT_PATH}/stripe"


def plan(*, host: str, port: int) -> ServerPlan:
    """Read and check the settings for a sandbox server on `host:port` (nothing is started)."""
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise SandboxCommandError(f"Invalid configuration: {problems}.", 2) from None
    if settings.is_production:
        raise SandboxCommandError(
            "ais sandbox is refused with AIS_ENV=production: production pays through Stripe itself.", 2)
    settings = settings.with_embedded_secrets()
    key = settings.stripe_secret_key or ""
    if key.startswith(LIVE_KEY_PREFIXES):
        raise SandboxCommandError(
            f"STRIPE_SECRET_KEY is a live key ({key[:8]}…): the sandbox only takes test keys (sk_test_…).", 2)
    store_url = settings.sandbox_database_url or f"sqlite:///{(settings.ais_data_dir / 'sandbox-server.db').as_posix()}"
    try:
        Store(store_url)  # checks the kind of database, opens nothing
    except SandboxStorageError as exc:
        raise SandboxCommandError(f"SANDBOX_DATABASE_URL: {exc}.", 2) from None
    webhook_url = settings.sandbox_webhook_url or f"{settings.public_base_url.rstrip('/')}/webhooks/stripe"
    if not _is_http_url(webhook_url):
        source = "SANDBOX_WEBHOOK_URL" if settings.sandbox_webhook_url else "PUBLIC_BASE_URL"
        raise SandboxCommandError(f"{source} must be an http(s) URL, not {webhook_url!r}.", 2)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a comparison
    shown_host = f"[{shown_host}]" if ":" in shown_host else shown_host
    return ServerPlan(base_url=f"http://{shown_host}:{port}", settings=settings, store_url=store_url,
                      webhook_url=webhook_url)


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def create_server_app(server: ServerPlan) -> FastAPI:
    """The sandbox mounted at `/_sandbox`, started and closed by this app's lifespan, and
    `GET /health` (the store answers) for process supervisors."""
    settings = server.settings
    assert settings.stripe_secret_key and settings.stripe_webhook_secret
    configure_logging(settings.log_level)  # again in each worker process (they start afresh)
    try:
        sandbox_app = create_sandbox_app(
            secret_key=settings.stripe_secret_key,
            webhook_secret=settings.stripe_webhook_secret,
            # Checkout URLs point here; the return URLs are the API's own (it sends them).
            public_base_url=server.base_url,
            webhook_url=server.webhook_url,
            delivery=settings.sandbox_webhook_delivery,
            database_url=server.store_url,
        )
    except ValueError as exc:
        raise SandboxCommandError(str(exc), 2) from None
    sandbox = sandbox_of(sandbox_app)
    app = FastAPI(title="AIS payment sandbox", lifespan=lifespan_of(sandbox), docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        try:
            async with sandbox.store.transaction() as conn:
                await conn.execute(select(1))
        except Exception as exc:  # any failure of the store means "not ready", with its reason
            return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok"})

    app.mount(MOUNT_PATH, sandbox_app)
    return app


def run_sandbox_server(*, host: str, port: int, workers: int = 1, announce: Callable[[str], None]) -> None:
    """Run until SIGTERM/SIGINT. Raises `SandboxCommandError` when it cannot start.

    `workers` > 1 runs that many processes on one socket: with a PostgreSQL store they serve
    calls side by side (and share the deliveries through their leases), for machines where one
    process is not enough."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    server_plan = plan(host=host, port=port)
    configure_logging(server_plan.settings.log_level)
    shown_store = _check_store(server_plan.store_url)
    if workers > 1 and not is_postgres_url(server_plan.store_url):
        raise SandboxCommandError("--workers above 1 needs a PostgreSQL SANDBOX_DATABASE_URL: a SQLite store "
                                  "runs one call at a time whatever the number of processes.", 2)
    sock = _bind(host, port, workers)
    announce(f"Payment sandbox on {server_plan.base_url} — STRIPE_API_BASE={server_plan.api_base}; "
             f"webhooks to {server_plan.webhook_url} (delivery {server_plan.settings.sandbox_webhook_delivery}); "
             f"state in {shown_store}" + (f"; {workers} processes" if workers > 1 else ""))
    # A factory: each worker process builds its own app (its own store pool and background loop).
    config = uvicorn.Config(functools.partial(create_server_app, server_plan), factory=True, workers=workers,
                            loop="uvloop", http="httptools", lifespan="on", access_log=False, log_config=None,
                            timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    try:
        with _stop_signals_end_cleanly():
            if workers > 1:
                Multiprocess(config, sockets=[sock]).run()
            else:
                server.run(sockets=[sock])
    finally:
        sock.close()
    if workers == 1 and not server.started:
        raise SandboxCommandError("The payment sandbox did not start; the log above says why.", 1)


@contextmanager
def _stop_signals_end_cleanly() -> Iterator[None]:
    """uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again through the
    handler that was installed before it; with these no-op handlers in place, a graceful stop
    returns and the command exits 0 (its contract), not "killed by SIGTERM"."""
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_store(url: str) -> str:
    """Open the store once before serving: a wrong URL or an unreachable database is one line
    and an exit code, not a traceback from inside the server's start-up."""
    store = Store(url)

    async def check() -> None:
        try:
            await store.open()
        finally:
            await store.close()

    try:
        asyncio.run(check())
    except SandboxStorageError as exc:
        raise SandboxCommandError(f"SANDBOX_DATABASE_URL: {exc}.", 2) from None
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise SandboxCommandError(f"Cannot open the sandbox store {store.shown}: {reason}", 1) from None
    return store.shown


def _bind(host: str, port: int, workers: int) -> socket.socket:
    try:
        return bind_listener(host, port, workers=workers)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise SandboxCommandError(f"Port {port} on {host} is busy: choose another with --port.", 2) from None
        raise SandboxCommandError(f"Cannot listen on {host}:{port}: {exc.strerror}.", 2) from None
