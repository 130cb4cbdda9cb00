"""Fixtures: a sandbox mounted at `/_sandbox` in a host app exactly as AIS mounts it, served on
a real port, and the official stripe SDK (async, HTTPX) pointed at it.

The store follows the pass: SQLite (in memory, or the file a test names) in the SQLite pass,
PostgreSQL in the PostgreSQL pass (one scratch database for the session, a fresh schema per
sandbox; a test that names a file gets the same schema each time it names it)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import stripe

from ais.payments.sandbox import DeliveryPolicy, create_sandbox_app, sandbox_of
from tests.fixtures.backend import BACKEND
from tests.fixtures.databases import new_postgres_database
from tests.payments.sandbox.serving import reserve_socket, serve
from tests.payments.sandbox.support import (
    FAST,
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeClock,
    Receiver,
    RunningSandbox,
    host_app,
    store_options,
)


@pytest.fixture(scope="session")
def sandbox_postgres_url() -> Iterator[str | None]:
    """PostgreSQL pass: a scratch database for the sandboxes of this session (dropped after)."""
    if BACKEND != "postgres":
        yield None
        return
    with new_postgres_database(f"ais_sandbox_test_{os.getpid()}") as url:
        yield url


@pytest.fixture
def start_sandbox(sandbox_postgres_url: str | None) -> Iterator[Callable[..., RunningSandbox]]:
    with ExitStack() as stack:

        def start(*, delivery: str = "off", webhook_url: str | None = None, database_path: Path | None = None,
                  policy: DeliveryPolicy = FAST, secret_key: str = SECRET_KEY) -> RunningSandbox:
            sock, base_url = reserve_socket()
            clock = FakeClock()
            app = create_sandbox_app(secret_key=secret_key, webhook_secret=WEBHOOK_SECRET, public_base_url=base_url,
                                     webhook_url=webhook_url, delivery=delivery, delivery_policy=policy, clock=clock,
                                     **store_options(sandbox_postgres_url, database_path))
            server = ExitStack()
            server.enter_context(serve(host_app(app), sock))
            stack.callback(server.close)
            return RunningSandbox(base_url, sandbox_of(app), clock, server.close)

        yield start


@pytest.fixture
def sandbox(start_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    return start_sandbox()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., stripe.StripeClient]]:
    http_clients: list[stripe.HTTPXClient] = []

    def make(running: RunningSandbox, *, api_key: str = SECRET_KEY, retries: int = 0) -> stripe.StripeClient:
        # Exactly how the AIS adapter configures the SDK; only the base address differs from Stripe.
        http_client = stripe.HTTPXClient()
        http_clients.append(http_client)
        return stripe.StripeClient(api_key=api_key, base_addresses={"api": running.api_base},
                                   http_client=http_client, max_network_retries=retries)

    yield make
    for http_client in http_clients:
        await http_client.close_async()


@pytest.fixture
def client(sandbox: RunningSandbox, make_client: Callable[..., stripe.StripeClient]) -> stripe.StripeClient:
    return make_client(sandbox)


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    """The customer's browser on the hosted page: follows no redirect on its own."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as http:
        yield http


@pytest.fixture
def start_receiver() -> Iterator[Callable[..., Receiver]]:
    with ExitStack() as stack:

        def start(statuses: list[int] | None = None) -> Receiver:
            sock, base_url = reserve_socket()
            receiver = Receiver(base_url=base_url, statuses=list(statuses or []))
            stack.enter_context(serve(receiver.app(), sock))
            return receiver

        yield start
