"""What the fault tests share: a live server on a private database with a flight and a passenger,
and the checks that an answer during an outage keeps the contract."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from ais.config import Settings
from ais.db.base import utcnow
from ais.payments.sandbox import sign_payload
from ais.wiring import create_runtime
from tests.factories import TestFlight, TestUser, booking_body, idempotency_key, new_flight
from tests.ops.contract import assert_error

# SPEC §10: "503 SERVICE_UNAVAILABLE retryable within a few seconds, no hanging request".
ANSWER_WITHIN_SECONDS = 5.0


async def flight_in(database_url: str, **flight: Any) -> TestFlight:
    """A flight written straight into the database a live server uses."""
    runtime = create_runtime(Settings(_env_file=None, database_url=database_url,  # type: ignore[call-arg]
                                      db_pool_size=1, db_max_overflow=0))
    try:
        return await new_flight(runtime, **flight)
    finally:
        await runtime.close()


@dataclass
class Probe:
    """One request that needs the database, as a passenger's app sends it."""

    name: str
    send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


def search_day() -> str:
    """The day `flight_in`'s flight (RUH → JED, leaving in 3 days) leaves, as search reads dates:
    at the origin's clock (from 21:00 UTC, Riyadh is a day ahead)."""
    return (utcnow() + timedelta(days=3)).astimezone(ZoneInfo("Asia/Riyadh")).date().isoformat()


def signed_event(webhook_secret: str) -> tuple[bytes, dict[str, str]]:
    """A Stripe event of a type AIS stores and ignores, signed as Stripe signs it."""
    event = {"id": f"evt_fault_{uuid.uuid4().hex}", "object": "event", "type": "customer.created",
             "created": int(time.time()), "api_version": "2024-06-20", "livemode": False,
             "data": {"object": {"id": f"cus_{uuid.uuid4().hex[:14]}", "object": "customer"}}}
    payload = json.dumps(event).encode()
    return payload, {"Stripe-Signature": sign_payload(payload, webhook_secret, int(time.time())),
                     "Content-Type": "application/json"}


def database_probes(user: TestUser, flight: TestFlight, webhook_secret: str) -> list[Probe]:
    day = search_day()

    def webhook(http: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        payload, headers = signed_event(webhook_secret)
        return http.post("/webhooks/stripe", content=payload, headers=headers)

    return [
        # Stripe delivers it again after any answer but 2xx: the inbox must not need the event twice.
        Probe("webhook", webhook),
        Probe("create booking", lambda http: http.post(
            "/api/v1/bookings", json=booking_body(flight), headers={**user.headers, **idempotency_key()})),
        Probe("list bookings", lambda http: http.get("/api/v1/bookings", headers=user.headers)),
        Probe("flight detail", lambda http: http.get(f"/api/v1/flights/{flight.id}")),
        # `no-cache`: past the search cache, to the database (a cached answer may well be served).
        Probe("search", lambda http: http.get("/api/v1/flights/search", params=search_params(day),
                                              headers={"Cache-Control": "no-cache"})),
        Probe("login", lambda http: http.post("/api/v1/auth/login", json={
            "email": user.email, "password": "correct horse battery staple"})),
        Probe("readiness", lambda http: http.get("/health/ready")),
    ]


def search_params(day: str) -> dict[str, Any]:
    return {"from": "RUH", "to": "JED", "date": day, "passengers": 1, "cabin": "economy"}


async def timed(probe: Probe, http: httpx.AsyncClient) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await probe.send(http)
    return response, time.monotonic() - started


def assert_unavailable(probe: Probe, response: httpx.Response, elapsed: float) -> None:
    """503 SERVICE_UNAVAILABLE in the contract body, retryable, answered quickly."""
    assert elapsed < ANSWER_WITHIN_SECONDS, f"{probe.name} took {elapsed:.1f} s"
    body = assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert body["retryable"] is True, (probe.name, body)
    assert response.headers.get("Retry-After"), (probe.name, response.headers)


def assert_no_crash_output(output: str) -> None:
    """An outage is logged as a warning line, never as a stack trace or an unhandled error."""
    for marker in ("Traceback", "unhandled_exception"):
        at = output.find(marker)
        # The failure shows the first stack trace itself, not the tail of a long log.
        assert at < 0, output[max(at - 1000, 0):at + 5000]


async def same_rate_limit_window(needed: float = 5.0) -> None:
    """Rate limits count in fixed one-minute windows: a burst that must land in one window starts
    early enough in it (a burst across the boundary is counted twice from zero)."""
    left = 60 - time.time() % 60
    if left < needed:
        await asyncio.sleep(left + 0.1)
