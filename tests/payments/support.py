"""Helpers of the payment suites: users, the ledger and audit as staff see them, refunds, disputes
and cancellations over HTTP, and what the database holds (events, seats)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import stripe
from sqlalchemy import func, select, update

from ais.bookings.models import Booking
from ais.bookings.tasks import expire_stale_holds
from ais.db.base import utcnow
from ais.flights.models import Cabin
from ais.payments.models import ProviderEvent
from ais.runtime import Runtime
from tests.factories import TestUser, new_user
from tests.fixtures.payment_flow import Live, booking_events, deliver


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


async def provider_calls(http: httpx.AsyncClient, operation: str, outcome: str) -> float:
    """How many provider calls /metrics has counted for the operation and outcome."""
    text = (await http.get("/metrics")).text
    sample = ("ais_payment_provider_call_duration_seconds_count"
              f'{{operation="{operation}",outcome="{outcome}"}} ')
    return sum(float(line.removeprefix(sample)) for line in text.splitlines() if line.startswith(sample))
