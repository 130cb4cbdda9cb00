"""Starting and stopping a sandbox: a host's shutdown (the API's, `ais sandbox`'s on SIGTERM)
must never hang, however busy the sandbox was a moment before."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from ais.payments.sandbox import create_sandbox_app, sandbox_of
from tests.payments.sandbox.support import FAST, SECRET_KEY, WEBHOOK_SECRET, session_params


def form(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Stripe's bracket encoding of nested parameters, as the SDK sends them."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            flat.update(form(value, name))
        elif isinstance(value, list):
            flat.update(form(dict(enumerate(value)), name))  # type: ignore[arg-type]
        else:
            flat[name] = str(value)
    return flat


async def test_close_right_after_a_payment_returns_at_once(sandbox_postgres_url: str | None) -> None:
    """A payment wakes the background loop (its events are due) in the same moment as the host
    stops it: the stop used to be lost (asyncio.wait_for swallows a cancellation that races
    with its result) and the loop ran on, so close() never returned."""
    for _ in range(3):
        store = {"database_url": sandbox_postgres_url} if sandbox_postgres_url else {}
        app = create_sandbox_app(secret_key=SECRET_KEY, webhook_secret=WEBHOOK_SECRET,
                                 public_base_url="http://127.0.0.1:9", delivery="off", delivery_policy=FAST,
                                 **store)  # type: ignore[arg-type]
        sandbox = sandbox_of(app)
        await sandbox.start()
        headers = {"Authorization": f"Bearer {SECRET_KEY}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as http:
            created = await http.post("/stripe/v1/checkout/sessions", data=form(session_params()), headers=headers)
            assert created.status_code == 200, created.text
            paid = await http.post(f"/checkout/{created.json()['id']}", data={"outcome": "succeeded"})
            assert paid.status_code == 303

        loop_task = sandbox._task  # this sandbox's background loop (other tests' sandboxes may run too)
        assert loop_task is not None
        started = time.monotonic()
        closing = asyncio.create_task(sandbox.close())
        await asyncio.wait([closing], timeout=5)
        assert closing.done(), "close() hangs"
        assert time.monotonic() - started < 2
        await closing
        assert loop_task.done(), "the background loop outlived close()"
