"""SPEC §10: maintenance mode. An admin switch, stored in the database so that every API process
obeys it within a second; audited. While on, creating bookings and starting payments answer 503
SERVICE_UNAVAILABLE (retryable, `Retry-After`, the message in `details`); everything else keeps
working."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from ais.audit.models import AuditEntry
from ais.bookings.models import Booking
from ais.maintenance.service import DEFAULT_MESSAGE
from tests import factories
from tests.factories import book, idempotency_key, new_flight, new_user
from tests.faults.support import signed_event
from tests.fixtures.payment_flow import pay_and_confirm_on
from tests.maintenance.support import Cluster
from tests.ops.contract import assert_error

MAINTENANCE = "/api/v1/admin/maintenance"


async def switch(http: httpx.AsyncClient, admin: factories.TestUser, **body: Any) -> httpx.Response:
    return await http.put(MAINTENANCE, json=body, headers=admin.headers)


async def pay(http: httpx.AsyncClient, user: factories.TestUser, booking_id: str) -> httpx.Response:
    return await http.post(f"/api/v1/bookings/{booking_id}/pay", headers={**user.headers, **idempotency_key()})


async def bookings_of(cluster: Cluster, user: factories.TestUser) -> int:
    async with cluster.runtime.session_factory() as session:
        count = await session.scalar(select(func.count()).select_from(Booking)
                                     .where(Booking.user_id == uuid.UUID(user.id)))
    return int(count or 0)


def assert_paused(response: httpx.Response, *, message: str, retry_after: int) -> None:
    body = assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert body["retryable"] is True
    assert body["details"] == {"message": message, "retryAfterSeconds": retry_after}, body
    assert response.headers["Retry-After"] == str(retry_after)


async def test_off_by_default_with_the_documented_defaults(cluster: Cluster):
    response = await cluster.first.http.get(MAINTENANCE, headers=cluster.admin.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["enabled"], body["message"], body["retryAfterSeconds"]) == (False, DEFAULT_MESSAGE, 300)


async def test_only_admins_read_or_switch_it(cluster: Cluster, switch_off_afterwards):
    http, passenger = cluster.first.http, cluster.passenger
    assert_error(await http.get(MAINTENANCE, headers=passenger.headers), 403, "FORBIDDEN")
    assert_error(await http.put(MAINTENANCE, json={"enabled": True}, headers=passenger.headers), 403, "FORBIDDEN")
    assert_error(await http.get(MAINTENANCE), 401, "UNAUTHORIZED")
    assert_error(await http.put(MAINTENANCE, json={"enabled": True}), 401, "UNAUTHORIZED")

    state = await http.get(MAINTENANCE, headers=cluster.admin.headers)
    assert state.json()["enabled"] is False


@pytest.mark.parametrize("body", [
    {}, {"enabled": "yes"}, {"enabled": None}, {"enabled": True, "retryAfterSeconds": 0},
    {"enabled": True, "retryAfterSeconds": -5}, {"enabled": True, "retryAfterSeconds": 10**12},
    {"enabled": True, "retryAfterSeconds": "soon"}, {"enabled": True, "message": ""},
    {"enabled": True, "message": "x" * 501}, {"enabled": True, "message": "a\x00b"},
    {"enabled": True, "reason": "unknown field"}, [True],
])
async def test_bad_input_is_a_validation_error_and_changes_nothing(cluster: Cluster, body, switch_off_afterwards):
    response = await cluster.first.http.put(MAINTENANCE, json=body, headers=cluster.admin.headers)

    assert_error(response, 422, "VALIDATION_ERROR")
    state = await cluster.first.http.get(MAINTENANCE, headers=cluster.admin.headers)
    assert state.json()["enabled"] is False


async def test_while_on_bookings_and_payments_pause_and_everything_else_works(cluster: Cluster,
                                                                             switch_off_afterwards):
    http, passenger, admin = cluster.first.http, cluster.passenger, cluster.admin
    flight = await new_flight(cluster.runtime, departs_in=timedelta(hours=5), economy_seats=20)
    unpaid = (await book(http, passenger, flight)).json()
    to_cancel = (await book(http, passenger, flight)).json()
    confirmed = (await book(http, passenger, flight)).json()
    await pay_and_confirm_on(cluster.first.live, passenger, confirmed["id"])
    before = await bookings_of(cluster, passenger)

    switched = await switch(http, admin, enabled=True, message="Payments are paused while Stripe recovers.",
                            retryAfterSeconds=120)
    assert switched.status_code == 200, switched.text
    assert switched.json() | {"updatedAt": None} == {
        "enabled": True, "message": "Payments are paused while Stripe recovers.", "retryAfterSeconds": 120,
        "updatedAt": None, "updatedBy": admin.id}

    # At once on the process that switched it: no new booking, no checkout.
    paused = {"message": "Payments are paused while Stripe recovers.", "retry_after": 120}
    assert_paused(await book(http, passenger, flight), **paused)
    assert_paused(await pay(http, passenger, unpaid["id"]), **paused)
    assert await bookings_of(cluster, passenger) == before
    # A caller without a valid token still learns that first.
    assert_error(await http.post("/api/v1/bookings", json={}), 401, "UNAUTHORIZED")

    # Everything else keeps working.
    day = unpaid["flight"]["departureTime"][:10]
    search = await http.get("/api/v1/flights/search", params={
        "from": "RUH", "to": "JED", "date": day, "passengers": 1, "cabin": "economy"})
    assert search.status_code == 200, search.text
    assert (await http.get(f"/api/v1/flights/{flight.id}")).status_code == 200
    assert (await http.get(f"/api/v1/bookings/{unpaid['id']}", headers=passenger.headers)).status_code == 200
    assert (await http.get("/api/v1/bookings", headers=passenger.headers)).status_code == 200
    cancelled = await http.post(f"/api/v1/bookings/{to_cancel['id']}/cancel",
                                headers={**passenger.headers, **idempotency_key()})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    checked_in = await http.post(f"/api/v1/bookings/{confirmed['id']}/check-in", headers=passenger.headers)
    assert checked_in.status_code == 200, checked_in.text
    payload, headers = signed_event(cluster.runtime.settings.stripe_webhook_secret or "")
    assert (await http.post("/webhooks/stripe", content=payload, headers=headers)).status_code == 200
    assert (await http.get("/api/v1/admin/audit-log", headers=admin.headers)).status_code == 200
    assert (await http.get("/health/ready")).status_code == 200

    # Off again: the same passenger books and pays.
    assert (await switch(http, admin, enabled=False)).json()["enabled"] is False
    booked = await book(http, passenger, flight)
    assert booked.status_code == 201, booked.text
    checkout = await pay(http, passenger, unpaid["id"])
    assert checkout.status_code == 200, checkout.text
    assert checkout.json()["checkoutUrl"]


async def test_omitted_fields_take_the_defaults(cluster: Cluster, switch_off_afterwards):
    http, admin = cluster.first.http, cluster.admin
    await switch(http, admin, enabled=True, message="Back at noon.", retryAfterSeconds=900)

    response = await switch(http, admin, enabled=True)

    assert (response.json()["message"], response.json()["retryAfterSeconds"]) == (DEFAULT_MESSAGE, 300)
    flight = await new_flight(cluster.runtime)
    assert_paused(await book(http, cluster.passenger, flight), message=DEFAULT_MESSAGE, retry_after=300)


async def test_every_switch_is_audited_with_who_and_the_old_and_new_state(cluster: Cluster, switch_off_afterwards):
    http, admin = cluster.first.http, cluster.admin
    await switch(http, admin, enabled=True, message="Provider outage.", retryAfterSeconds=60)
    await switch(http, admin, enabled=False)

    async with cluster.runtime.session_factory() as session:
        rows = (await session.scalars(select(AuditEntry).where(AuditEntry.resource_type == "maintenance")
                                      .order_by(AuditEntry.created_at))).all()
    on, off = rows[-2:]  # this test's two switches (earlier tests switched it too)
    assert [on.action, off.action] == ["maintenance.on", "maintenance.off"]
    assert str(on.actor_id) == admin.id and on.actor_role == "admin" and on.ip
    assert on.changes["old"]["enabled"] is False
    assert on.changes["new"] == {"enabled": True, "message": "Provider outage.", "retryAfterSeconds": 60}
    assert off.changes["old"] == on.changes["new"]
    assert off.changes["new"] == {"enabled": False, "message": DEFAULT_MESSAGE, "retryAfterSeconds": 300}
    listed = await http.get("/api/v1/admin/audit-log", params={"resourceType": "maintenance"},
                            headers=admin.headers)
    assert {"maintenance.on", "maintenance.off"} <= {item["action"] for item in listed.json()["items"]}


async def first_status_until(http: httpx.AsyncClient, user: factories.TestUser, flight, wanted: int,
                             within: float) -> tuple[int, float]:
    """Book every 50 ms until the answer is `wanted` (or `within` seconds passed): the status
    and how long it took."""
    started = time.monotonic()
    while True:
        status = (await book(http, user, flight)).status_code
        elapsed = time.monotonic() - started
        if status == wanted or elapsed > within:
            return status, elapsed
        await asyncio.sleep(0.05)


async def test_another_process_obeys_the_switch_within_a_second(cluster: Cluster, switch_off_afterwards):
    http, other, admin = cluster.first.http, cluster.second.http, cluster.admin
    passenger = await new_user(other)
    flight = await new_flight(cluster.runtime, economy_seats=500)
    # The other process has read the switch (off) and keeps that for up to a second.
    status, _ = await first_status_until(other, passenger, flight, 201, within=3)
    assert status == 201

    await switch(http, admin, enabled=True, retryAfterSeconds=30)
    status, took = await first_status_until(other, passenger, flight, 503, within=3)
    assert status == 503 and took < 1.5, (status, took)
    assert_paused(await book(other, passenger, flight), message=DEFAULT_MESSAGE, retry_after=30)

    await switch(http, admin, enabled=False)
    status, took = await first_status_until(other, passenger, flight, 201, within=3)
    assert status == 201 and took < 1.5, (status, took)


async def test_the_openapi_document_declares_the_pause_and_the_admin_operations(cluster: Cluster):
    document = (await cluster.first.http.get("/openapi.json")).json()

    for path in ("/api/v1/bookings", "/api/v1/bookings/{booking_id}/pay"):
        unavailable = document["paths"][path]["post"]["responses"]["503"]
        example = unavailable["content"]["application/json"]["examples"]["MAINTENANCE"]["value"]
        assert example["code"] == "SERVICE_UNAVAILABLE" and example["retryable"] is True
        assert set(example["details"]) == {"message", "retryAfterSeconds"}
        assert "Retry-After" in unavailable["headers"], unavailable
    operations = document["paths"][MAINTENANCE]
    assert operations["get"]["operationId"] == "adminGetMaintenance"
    assert operations["put"]["operationId"] == "adminSetMaintenance"
    # Search is never paused, so it does not say it may be.
    search = document["paths"]["/api/v1/flights/search"]["get"]["responses"].get("503", {})
    assert "MAINTENANCE" not in search.get("content", {}).get("application/json", {}).get("examples", {})
