"""A live AIS server (embedded sandbox included) on a real port: the stripe SDK inside AIS talks
to the sandbox over real HTTP, exactly as in embedded mode. Tests drive it over HTTP and, with
delivery off, fetch the sandbox's events with the SDK and deliver them themselves."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import func, select, update

from ais.app import create_app
from ais.bookings.models import Booking
from ais.bookings.tasks import expire_stale_holds
from ais.config import Settings
from ais.db.base import utcnow
from ais.flights.models import Cabin
from ais.payments.models import ProviderEvent
from ais.payments.sandbox import sign_payload
from ais.runtime import Runtime
from ais.wiring import create_runtime
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


@pytest.fixture
async def live_runtime(live: Live) -> AsyncIterator[Runtime]:
    """A runtime in the test's event loop whose gateway talks to the live server's sandbox (for
    running the periodic jobs as the scheduler would)."""
    own = create_runtime(live.settings)
    yield own
    await own.close()


async def open_checkout(http: httpx.AsyncClient, user: TestUser, booking_id: str) -> dict[str, Any]:
    response = await http.post(f"/api/v1/bookings/{booking_id}/pay", headers={**user.headers, **idempotency_key()})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def complete_checkout(http: httpx.AsyncClient, checkout_url: str, outcome: str = "succeeded") -> httpx.Response:
    """What the passenger does on the hosted page: press Pay (or Decline…)."""
    response = await http.post(checkout_url, data={"outcome": outcome}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


_SCAN_FROM = [0]  # unix seconds: events older than the running test are not about its bookings


@pytest.fixture(autouse=True)
def _events_of_this_test_only() -> None:
    """`booking_events` scans only the events made since the test started (a full scan of the
    sandbox grows with the session and would dominate the run time)."""
    _SCAN_FROM[0] = int(time.time()) - 2


async def booking_events(sdk: stripe.StripeClient, booking_id: str, *, types: tuple[str, ...] = (),
                         since: int | None = None) -> list[dict[str, Any]]:
    """The sandbox's events about one booking, oldest first (as a webhook would have sent them).

    Only events created at or after `since` (unix seconds; default: the start of the running
    test) are looked at."""
    since = _SCAN_FROM[0] if since is None else since
    everything: list[dict[str, Any]] = []
    starting_after = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if starting_after:
            params["starting_after"] = starting_after
        if since:
            params["created"] = {"gte": since}
        page = (await sdk.v1.events.list_async(params=params)).to_dict(recursive=True)  # type: ignore[arg-type]
        everything.extend(page["data"])
        if not page["has_more"]:
            break
        starting_after = page["data"][-1]["id"]
    everything.reverse()  # oldest first
    found = [event for event in everything
             if (event["data"]["object"].get("metadata") or {}).get("bookingId") == booking_id]
    charges = {event["data"]["object"]["id"] for event in found if event["data"]["object"].get("object") == "charge"}
    charges |= {event["data"]["object"].get("latest_charge") for event in found} - {None}
    disputes = [event for event in everything if _about_charges(event, charges)]
    chosen = {event["id"] for event in found + disputes}
    return [event for event in everything
            if event["id"] in chosen and (not types or event["type"] in types)]


def _about_charges(event: dict[str, Any], charges: set[str]) -> bool:
    """Disputes carry no booking metadata: match them by charge."""
    obj = event["data"]["object"]
    return obj.get("object") == "dispute" and obj.get("charge") in charges


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




# --- helpers for the attack suites -------------------------------------------------------------


_ADMINS: dict[str, tuple[float, TestUser]] = {}


async def admin_user(http: httpx.AsyncClient, runtime: Runtime) -> TestUser:
    """One admin per server for these suites (an argon2 registration costs most of a second);
    renewed well before its 15-minute access token lapses."""
    key = str(http.base_url)
    made = _ADMINS.get(key)
    if made is None or time.monotonic() - made[0] > 600:
        made = (time.monotonic(), await new_user(http, runtime, admin=True))
        _ADMINS[key] = made
    return made[1]


_PASSENGERS: dict[tuple[str, int], tuple[float, TestUser]] = {}


async def passenger_user(http: httpx.AsyncClient, which: int = 0) -> TestUser:
    """A passenger reused across these suites where who pays does not matter (each test still
    makes its own bookings); `which` gives distinct passengers. Tests about another
    passenger's access make fresh users with `new_user`."""
    key = (str(http.base_url), which)
    made = _PASSENGERS.get(key)
    if made is None or time.monotonic() - made[0] > 600:
        made = (time.monotonic(), await new_user(http))
        _PASSENGERS[key] = made
    return made[1]


async def ledger_of(http: httpx.AsyncClient, admin: TestUser, booking_id: str) -> dict[str, Any]:
    response = await http.get("/api/v1/admin/ledger", params={"bookingId": booking_id, "limit": 100},
                              headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def entries(ledger: dict[str, Any]) -> list[tuple[str, str]]:
    """(type, amount) of every ledger entry, sorted (the API lists newest first)."""
    return sorted((entry["type"], entry["amount"]) for entry in ledger["items"])


def net(ledger: dict[str, Any]) -> str:
    return ledger["totals"]["net"] if ledger["totals"] else "0.00"


async def get_booking(http: httpx.AsyncClient, user: TestUser, booking_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/v1/bookings/{booking_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def transitions(booking: dict[str, Any]) -> list[tuple[str, str]]:
    return [(change["from"], change["to"]) for change in booking["statusHistory"]]


async def deliver_all(http: httpx.AsyncClient, live: Live, events: list[dict[str, Any]]) -> list[int]:
    return [(await deliver(http, live, event)).status_code for event in events]


async def stored_event(runtime: Runtime, event_id: str) -> ProviderEvent | None:
    async with runtime.session_factory() as session:
        return await session.get(ProviderEvent, event_id)


async def stored_event_count(runtime: Runtime) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(ProviderEvent)) or 0)


async def seats_left(runtime: Runtime, cabin_id: str) -> int:
    async with runtime.session_factory() as session:
        cabin = await session.get(Cabin, uuid.UUID(cabin_id), populate_existing=True)
        assert cabin is not None
        return cabin.seats_available


async def lapse_hold(runtime: Runtime, booking_id: str) -> None:
    """As if the hold's time ran out: `expiresAt` in the past, then the expiry sweep."""
    async with runtime.session_factory() as session:
        await session.execute(update(Booking).where(Booking.id == uuid.UUID(booking_id))
                              .values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    await expire_stale_holds(runtime)


async def payment_intent_of(sdk: stripe.StripeClient, session_id: str) -> dict[str, Any]:
    checkout = (await sdk.v1.checkout.sessions.retrieve_async(session_id)).to_dict(recursive=True)
    assert checkout["payment_intent"], checkout
    return (await sdk.v1.payment_intents.retrieve_async(checkout["payment_intent"])).to_dict(recursive=True)


async def session_id_of(sdk: stripe.StripeClient, booking_id: str) -> str:
    """The paid Checkout Session of a booking (from its `checkout.session.completed`)."""
    [completed] = await booking_events(sdk, booking_id, types=("checkout.session.completed",))
    return str(completed["data"]["object"]["id"])


async def refunds_at_provider(sdk: stripe.StripeClient, payment_intent_id: str) -> list[dict[str, Any]]:
    page = await sdk.v1.refunds.list_async(params={"payment_intent": payment_intent_id, "limit": 100})
    return [refund.to_dict(recursive=True) for refund in page.data]


async def open_dispute(sdk: stripe.StripeClient, charge_id: str) -> dict[str, Any]:
    response = await sdk.raw_request_async("post", f"/v1/test_helpers/charges/{charge_id}/dispute")
    return sdk.deserialize(response, api_mode="V1").to_dict(recursive=True)  # type: ignore[no-any-return]


async def close_dispute(sdk: stripe.StripeClient, dispute_id: str, status: str) -> dict[str, Any]:
    response = await sdk.raw_request_async("post", f"/v1/test_helpers/disputes/{dispute_id}/close", status=status)
    return sdk.deserialize(response, api_mode="V1").to_dict(recursive=True)  # type: ignore[no-any-return]


async def admin_refund(http: httpx.AsyncClient, admin: TestUser, booking_id: str, *, amount: str | None = None,
                       reason: str = "goodwill", key: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"reason": reason}
    if amount is not None:
        body["amount"] = amount
    headers = {**admin.headers, "Idempotency-Key": key or str(uuid.uuid4())}
    return await http.post(f"/api/v1/admin/bookings/{booking_id}/refunds", json=body, headers=headers)


async def cancel(http: httpx.AsyncClient, user: TestUser, booking_id: str, *, key: str | None = None
                 ) -> httpx.Response:
    headers = {**user.headers, "Idempotency-Key": key or str(uuid.uuid4())}
    return await http.post(f"/api/v1/bookings/{booking_id}/cancel", headers=headers)


async def audit_actions(http: httpx.AsyncClient, admin: TestUser, booking_id: str) -> list[str]:
    response = await http.get("/api/v1/admin/audit-log", params={"resourceId": booking_id, "limit": 100},
                              headers=admin.headers)
    assert response.status_code == 200, response.text
    return [entry["action"] for entry in response.json()["items"]]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A non-2xx answer in the error contract's shape, and nothing else."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "correlationId", "retryable", "details"}, body
    assert body["code"] == code and body["correlationId"] and isinstance(body["retryable"], bool)
    return body
