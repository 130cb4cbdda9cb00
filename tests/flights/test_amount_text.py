"""Amounts at the API edge (SPEC §3): `"1_0"` and digits of other scripts (Arabic-Indic, full-width)
are 422 naming the field, on flight fares (create and change) and on admin refunds — never read as
10 or 100."""

from __future__ import annotations

import pytest

from tests.factories import book, idempotency_key, new_flight, new_user
from tests.flights.support import flight_body
from tests.ops.contract import assert_error

pytestmark = pytest.mark.usefixtures("airports")

ODD_AMOUNTS = ["1_0", "4_50.00", "\u0661\u0660\u0660", "\u0664\u0665\u0660.\u0660\u0660", "\uff14\uff15\uff10"]


@pytest.mark.parametrize("price", ODD_AMOUNTS)
async def test_a_new_flight_refuses_the_fare(client, admin, price):
    body = flight_body(cabins=[{"cabin": "economy", "capacity": 100, "price": price, "currency": "SAR"}])
    response = await client.post("/api/v1/admin/flights", json=body, headers=admin.headers)
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert any(e["field"].startswith("body.cabins.0") for e in error["details"]["errors"]), error


@pytest.mark.parametrize("price", ODD_AMOUNTS)
async def test_a_fare_change_refuses_the_fare(client, admin, runtime, price):
    flight = await new_flight(runtime)
    response = await client.patch(f"/api/v1/admin/flights/{flight.id}",
                                  json={"cabins": [{"cabin": "economy", "price": price}]}, headers=admin.headers)
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert any("cabins" in e["field"] for e in error["details"]["errors"]), error


@pytest.mark.parametrize("amount", ODD_AMOUNTS)
async def test_an_admin_refund_refuses_the_amount(client, admin, runtime, amount):
    passenger = await new_user(client)
    booking = await book(client, passenger, await new_flight(runtime))
    assert booking.status_code == 201, booking.text
    response = await client.post(f"/api/v1/admin/bookings/{booking.json()['id']}/refunds",
                                 json={"amount": amount, "reason": "goodwill"},
                                 headers={**admin.headers, **idempotency_key()})
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert [e["field"] for e in error["details"]["errors"]] == ["amount"], error
