"""A live AIS server (embedded sandbox included) on a real port: the stripe SDK inside AIS talks
to the sandbox over real HTTP, exactly as in embedded mode. Tests drive it over HTTP and, with
delivery off, fetch the sandbox's events with the SDK and deliver them themselves."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe

from ais.app import create_app
from ais.config import Settings
from ais.payments.sandbox import sign_payload
from tests.factories import TestUser, book, idempotency_key, new_user
from tests.payments.sandbox.serving import reserve_socket, serve


@dataclass
class Live:
    url: str
    settings: Settings

    def stripe_client(self) -> stripe.StripeClient:
        return stripe.StripeClient(api_key=self.settings.stripe_secret_key or "",
                                   base_addresses={"api": f"{self.url}/_sandbox/stripe"},
                                   http_client=stripe.HTTPXClient())


def _start(settings: Settings, delivery: str) -> Iterator[Live]:
    sock, url = reserve_socket()
    live_settings = settings.model_copy(update={"public_base_url": url, "sandbox_webhook_delivery": delivery})
    with serve(create_app(live_settings), sock):
        yield Live(url=url, settings=live_settings)


@pytest.fixture(scope="session")
def live(settings: Settings) -> Iterator[Live]:
    """Webhook delivery off: tests deliver (twice, late, out of order) themselves."""
    yield from _start(settings, "off")


@pytest.fixture(scope="session")
def live_delivering(settings: Settings) -> Iterator[Live]:
    """The sandbox delivers its signed events to /webhooks/stripe, with retries, as Stripe would."""
    yield from _start(settings, "on")


@pytest.fixture
async def http(live: Live) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        yield client


@pytest.fixture
async def sdk(live: Live) -> AsyncIterator[stripe.StripeClient]:
    client = live.stripe_client()
    yield client


async def open_checkout(http: httpx.AsyncClient, user: TestUser, booking_id: str) -> dict[str, Any]:
    response = await http.post(f"/api/v1/bookings/{booking_id}/pay", headers={**user.headers, **idempotency_key()})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def complete_checkout(http: httpx.AsyncClient, checkout_url: str, outcome: str = "succeeded") -> httpx.Response:
    """What the passenger does on the hosted page: press Pay (or Decline…)."""
    response = await http.post(checkout_url, data={"outcome": outcome}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


async def booking_events(sdk: stripe.StripeClient, booking_id: str, *, types: tuple[str, ...] = ()
                         ) -> list[dict[str, Any]]:
    """The sandbox's events about one booking, oldest first (as a webhook would have sent them)."""
    found: list[dict[str, Any]] = []
    starting_after = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if starting_after:
            params["starting_after"] = starting_after
        page = (await sdk.v1.events.list_async(params=params)).to_dict(recursive=True)  # type: ignore[arg-type]
        for event in page["data"]:
            metadata = (event["data"]["object"].get("metadata") or {})
            if metadata.get("bookingId") == booking_id or _about_booking(event, booking_id, found):
                if not types or event["type"] in types:
                    found.append(event)
        if not page["has_more"]:
            break
        starting_after = page["data"][-1]["id"]
    return list(reversed(found))


def _about_booking(event: dict[str, Any], booking_id: str, found: list[dict[str, Any]]) -> bool:
    """Disputes carry no booking metadata: match them by charge."""
    obj = event["data"]["object"]
    if obj.get("object") != "dispute":
        return False
    return any(e["data"]["object"].get("id") == obj.get("charge") or
               e["data"]["object"].get("latest_charge") == obj.get("charge") for e in found) or \
        booking_id in json.dumps(obj)


async def deliver(http: httpx.AsyncClient, live: Live, event: dict[str, Any], *, timestamp: int | None = None,
                  secret: str | None = None, body: bytes | None = None) -> httpx.Response:
    payload = body if body is not None else json.dumps(event).encode()
    signature = sign_payload(payload, secret or live.settings.stripe_webhook_secret or "",
                             timestamp if timestamp is not None else int(time.time()))
    return await http.post("/webhooks/stripe", content=payload,
                           headers={"Stripe-Signature": signature, "Content-Type": "application/json"})


async def wait_for_status(http: httpx.AsyncClient, user: TestUser, booking_id: str, status: str,
                          timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        booking = (await http.get(f"/api/v1/bookings/{booking_id}", headers=user.headers)).json()
        if booking["status"] == status or time.monotonic() > deadline:
            return booking  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)


async def paid_booking(http: httpx.AsyncClient, live: Live, sdk: stripe.StripeClient, runtime: Any,
                       user: TestUser, flight: Any, **booking_kwargs: Any) -> dict[str, Any]:
    """Book, pay on the hosted page, deliver the sandbox's events: a confirmed booking."""
    booking = (await book(http, user, flight, **booking_kwargs)).json()
    checkout = await open_checkout(http, user, booking["id"])
    await complete_checkout(http, checkout["checkoutUrl"])
    for event in await booking_events(sdk, booking["id"]):
        assert (await deliver(http, live, event)).status_code == 200
    return await wait_for_status(http, user, booking["id"], "confirmed", timeout=1)


async def passenger(http: httpx.AsyncClient) -> TestUser:
    return await new_user(http)


