"""Helpers of the sandbox suites: keys, a fake clock, a running sandbox, paid sessions, a webhook
receiver."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import stripe
from fastapi import FastAPI, Request, Response

from ais.payments.sandbox import DeliveryPolicy, Sandbox, sandbox_of

SECRET_KEY = "sk_test_sandboxSecretKeyForTests0123456789"
WEBHOOK_SECRET = "whsec_sandboxWebhookSecretForTests0123456789"
FAST = DeliveryPolicy(max_attempts=4, initial_delay=0.05, max_delay=0.2, timeout=2.0, poll_interval=0.05)


class FakeClock:
    """The sandbox's business clock, moved by tests (object times, expiry, key age)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RunningSandbox:
    base_url: str
    sandbox: Sandbox
    clock: FakeClock
    stop: Callable[[], object]  # shuts the server down (running the sandbox's close()); idempotent

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/_sandbox/stripe"

    def checkout_url(self, session_id: str) -> str:
        return f"{self.base_url}/_sandbox/checkout/{session_id}"


def host_app(sandbox_app: FastAPI) -> FastAPI:
    """What AIS does: mount at /_sandbox, start and close the sandbox in its own lifespan."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await sandbox_of(sandbox_app).start()
        try:
            yield
        finally:
            await sandbox_of(sandbox_app).close()

    app = FastAPI(lifespan=lifespan)
    app.mount("/_sandbox", sandbox_app)
    return app


def store_options(postgres_url: str | None, database_path: Path | None) -> dict[str, Any]:
    """`create_sandbox_app` arguments for the pass's store; `database_path` names a store that
    outlives one sandbox (a restart, two processes sharing it)."""
    if postgres_url is None:
        return {"database_path": database_path}
    if database_path is None:
        return {"database_url": postgres_url, "database_schema": f"t_{secrets.token_hex(8)}"}
    digest = hashlib.sha256(str(database_path).encode()).hexdigest()[:16]
    return {"database_url": postgres_url, "database_schema": f"t_{digest}"}


def session_params(amount: int = 123450, currency: str = "sar", **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{"price_data": {"currency": currency, "unit_amount": amount,
                                       "product_data": {"name": "RUH → JED, Economy"}},
                        "quantity": 1}],
        "metadata": {"bookingId": "7d0f6f7e-1111-4c4c-8888-000000000001", "bookingReference": "ABC123"},
        "payment_intent_data": {"metadata": {"bookingId": "7d0f6f7e-1111-4c4c-8888-000000000001"}},
        "success_url": "https://app.example/bookings/ABC123/paid?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.example/bookings/ABC123/cancelled",
        "client_reference_id": "ABC123",
        "customer_email": "passenger@example.com",
    }
    params.update(overrides)
    return params


async def pay(browser: httpx.AsyncClient, running: RunningSandbox, session_id: str,
              outcome: str = "succeeded") -> httpx.Response:
    return await browser.post(running.checkout_url(session_id), data={"outcome": outcome})


async def paid_session(client: stripe.StripeClient, browser: httpx.AsyncClient, running: RunningSandbox,
                       **params: Any) -> stripe.checkout.Session:
    session = await client.v1.checkout.sessions.create_async(params=session_params(**params))
    response = await pay(browser, running, session.id)
    assert response.status_code == 303, response.text
    return await client.v1.checkout.sessions.retrieve_async(session.id)


async def eventually(check: Callable[[], Awaitable[bool] | bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@dataclass
class Receiver:
    """A webhook endpoint that records every delivery and answers from a script."""

    base_url: str = ""
    statuses: list[int] = field(default_factory=list)  # answers in order; 200 once exhausted
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base_url}/webhooks/stripe"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/webhooks/stripe")
        async def webhook(request: Request) -> Response:
            self.received.append((await request.body(), dict(request.headers)))
            status = self.statuses.pop(0) if self.statuses else 200
            return Response(status_code=status, content=f"answered {status}")

        return app
