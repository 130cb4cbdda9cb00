"""SPEC §7: whatever a list route's cursor and filters carry, the answer is a contract error, never
a 500 — in particular NUL characters (PostgreSQL text cannot hold them) and cursors whose time has
no time zone (PostgreSQL cannot compare them with stored times)."""

from __future__ import annotations

import base64
import uuid

import pytest

from tests.factories import new_user
from tests.ops.contract import assert_error

NUL = "abc\x00def"


@pytest.fixture(scope="module")
async def admin(client, runtime):
    return await new_user(client, runtime, admin=True)


@pytest.fixture(scope="module")
async def passenger(client):
    return await new_user(client)


ADMIN_FILTERS = [
    ("/api/v1/admin/bookings", "reference", "AB\x00CDE"),
    ("/api/v1/admin/bookings", "cursor", NUL),
    ("/api/v1/admin/audit-log", "action", NUL),
    ("/api/v1/admin/audit-log", "resourceType", NUL),
    ("/api/v1/admin/audit-log", "resourceId", NUL),
    ("/api/v1/admin/audit-log", "cursor", NUL),
    ("/api/v1/admin/ledger", "currency", "SA\x00"),
    ("/api/v1/admin/ledger", "cursor", NUL),
    ("/api/v1/admin/provider-events", "type", NUL),
    ("/api/v1/admin/provider-events", "cursor", NUL),
    ("/api/v1/admin/users", "email", "a\x00b@example.com"),
    ("/api/v1/admin/users", "cursor", NUL),
]


@pytest.mark.parametrize(("path", "name", "value"), ADMIN_FILTERS)
async def test_nul_in_an_admin_list_filter_is_a_validation_error(client, admin, path, name, value):
    response = await client.get(path, params={name: value}, headers=admin.headers)
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert any(name in error["field"] for error in body["details"]["errors"]), body


@pytest.mark.parametrize("path", ["/api/v1/bookings/AB%00CDE", "/api/v1/flights/%00",
                                  "/api/v1/admin/bookings/AB%00CDE"])
async def test_nul_in_a_path_parameter_is_a_validation_error(client, admin, path):
    assert_error(await client.get(path, headers=admin.headers), 422, "VALIDATION_ERROR")


async def test_nul_in_the_passenger_booking_list_is_a_validation_error(client, passenger):
    response = await client.get("/api/v1/bookings", params={"cursor": NUL}, headers=passenger.headers)
    assert_error(response, 422, "VALIDATION_ERROR")


def _opaque(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


NAIVE_CURSORS = {
    "/api/v1/admin/bookings": _opaque(f"2026-11-30T10:00:00|{uuid.uuid4()}"),
    "/api/v1/admin/audit-log": _opaque(f"2026-11-30T10:00:00|{uuid.uuid4()}"),
    "/api/v1/admin/ledger": _opaque(f"2026-11-30T10:00:00|{uuid.uuid4()}"),
    "/api/v1/admin/users": _opaque(f"2026-11-30T10:00:00|{uuid.uuid4()}"),
    # The provider-event cursor as it used to be written in clear, and as this API writes it now.
    "/api/v1/admin/provider-events": "2026-11-30T10:00:00|evt_1",
}


@pytest.mark.parametrize("path", list(NAIVE_CURSORS))
async def test_a_cursor_without_a_time_zone_is_a_validation_error(client, admin, path):
    response = await client.get(path, params={"cursor": NAIVE_CURSORS[path]}, headers=admin.headers)
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_provider_events_cursor_with_an_opaque_naive_time_is_refused(client, admin):
    response = await client.get("/api/v1/admin/provider-events",
                                params={"cursor": _opaque("2026-11-30T10:00:00|evt_1")}, headers=admin.headers)
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_the_passenger_list_refuses_a_naive_cursor(client, passenger):
    response = await client.get("/api/v1/bookings", params={"cursor": NAIVE_CURSORS["/api/v1/admin/bookings"]},
                                headers=passenger.headers)
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_provider_events_page_by_page_with_the_cursor_they_return(client, admin, runtime):
    from datetime import timedelta

    from ais.db.base import utcnow
    from ais.payments.models import ProviderEvent

    ids = [f"evt_page_{uuid.uuid4().hex[:12]}" for _ in range(3)]
    start = utcnow()
    async with runtime.session_factory() as session:
        # Processed already, so the inbox retry job (and the tests that count it) never sees them.
        session.add_all(ProviderEvent(id=event_id, type="test.paging", payload={"id": event_id}, processed=True,
                                      processed_at=start, attempts=1, received_at=start + timedelta(seconds=i))
                        for i, event_id in enumerate(ids))
        await session.commit()

    seen: list[str] = []
    cursor = None
    for _ in range(3):
        params = {"type": "test.paging", "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = await client.get("/api/v1/admin/provider-events", params=params, headers=admin.headers)
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["nextCursor"]
    assert seen == list(reversed(ids))
