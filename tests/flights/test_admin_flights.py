"""SPEC §11 admin: publishing flights (money exponents, offsets, duplicates, authorization)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ais.audit.models import AuditEntry
from tests.flights.support import ZONES, flight_body, future_day, local, search_params
from tests.ops.contract import assert_error

pytestmark = pytest.mark.usefixtures("airports")


async def create(client, admin, body):
    return await client.post("/api/v1/admin/flights", json=body, headers=admin.headers)


async def test_create_flight(client, runtime, admin):
    body = flight_body(flightNumber="sv1234")
    response = await create(client, admin, body)
    assert response.status_code == 201, response.text
    flight = response.json()
    assert flight["flightNumber"] == "SV1234"
    assert (flight["from"], flight["to"], flight["status"]) == ("RUH", "JED", "scheduled")
    assert flight["departureTime"] == body["departureTime"]
    assert flight["cabins"] == [
        {"cabin": "economy", "capacity": 150, "availableSeats": 150, "price": "450.00", "currency": "SAR"},
        {"cabin": "business", "capacity": 12, "availableSeats": 12, "price": "1650.00", "currency": "SAR"},
    ]
    assert (await client.get(f"/api/v1/flights/{flight['id']}")).json() == flight

    async with runtime.session_factory() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.resource_id == flight["id"]))
    assert entry is not None
    assert (entry.action, entry.resource_type, str(entry.actor_id), entry.actor_role) == (
        "flight.create", "flight", admin.id, "admin")
    assert entry.changes["flightNumber"] == "SV1234"
    assert entry.correlation_id == response.headers["X-Correlation-Id"]


@pytest.mark.parametrize(
    ("currency", "price", "shown"),
    [("SAR", "450", "450.00"), ("SAR", "450.5", "450.50"), ("KWD", "12.345", "12.345"), ("KWD", "45", "45.000"),
     ("JPY", "98000", "98000"), ("JPY", "98000.0", "98000"), ("SAR", "0", "0.00")],
)
async def test_prices_follow_the_currency_exponent(client, admin, currency, price, shown):
    body = flight_body(cabins=[{"cabin": "economy", "capacity": 100, "price": price, "currency": currency}])
    response = await create(client, admin, body)
    assert response.status_code == 201, response.text
    [cabin] = response.json()["cabins"]
    assert (cabin["price"], cabin["currency"]) == (shown, currency)


@pytest.mark.parametrize(
    ("currency", "price"),
    [("JPY", "1.5"), ("SAR", "450.001"), ("KWD", "12.3456"), ("SAR", "-1.00"), ("SAR", "abc"), ("SAR", "NaN"),
     ("SAR", "Infinity"), ("SAR", "1e30"), ("XXX", "1.00"), ("SAR", 450.5), ("SAR", 450), ("SAR", "")],
)
async def test_prices_that_cannot_be_represented_are_refused(client, admin, currency, price):
    body = flight_body(cabins=[{"cabin": "economy", "capacity": 100, "price": price, "currency": currency}])
    error = assert_error(await create(client, admin, body), 422, "VALIDATION_ERROR")
    assert any(e["field"].startswith("body.cabins.0") for e in error["details"]["errors"]), error


async def test_times_are_stored_as_instants_and_shown_at_each_airport(client, admin):
    # Given in UTC and in Tokyo time; shown in Tokyo time (origin) and Riyadh time (destination).
    departure = local(future_day(41), "23:40", "NRT")
    body = flight_body(**{"from": "NRT", "to": "RUH", "departureTime": departure.astimezone(UTC).isoformat(),
                          "arrivalTime": (departure + timedelta(hours=12, minutes=40)).isoformat()})
    response = await create(client, admin, body)
    assert response.status_code == 201, response.text
    flight = response.json()
    assert flight["departureTime"] == departure.isoformat()
    assert flight["departureTime"].endswith("T23:40:00+09:00")
    assert flight["arrivalTime"] == (departure + timedelta(hours=12, minutes=40)).astimezone(ZONES["RUH"]).isoformat()


async def test_duplicate_flight_number_and_departure_is_a_conflict(client, admin):
    body = flight_body()
    assert (await create(client, admin, body)).status_code == 201
    assert_error(await create(client, admin, body), 409, "BOOKING_CONFLICT")
    # The same instant written with another offset is the same departure.
    same_instant = datetime.fromisoformat(body["departureTime"]).astimezone(UTC).isoformat()
    assert_error(await create(client, admin, {**body, "departureTime": same_instant}), 409, "BOOKING_CONFLICT")
    # The same number a day later is another flight.
    next_day = {key: (datetime.fromisoformat(body[key]) + timedelta(days=1)).isoformat()
                for key in ("departureTime", "arrivalTime")}
    assert (await create(client, admin, {**body, **next_day})).status_code == 201


@pytest.mark.parametrize(
    "overrides",
    [
        {"flightNumber": "123"}, {"flightNumber": "S"}, {"flightNumber": "SV12345"}, {"flightNumber": "SV-12"},
        {"flightNumber": "SVX12"}, {"flightNumber": 123},
        {"from": "ZZZ"}, {"to": "ZZZ"}, {"to": "RUH"}, {"from": "R1H"},
        {"departureTime": "2026-12-01T07:00:00"}, {"arrivalTime": "2026-12-01T09:00:00"},
        {"departureTime": "yesterday"},
        {"arrivalTime": "PAST"}, {"departureTime": "PAST"}, {"arrivalTime": "LONG"},
        {"cabins": []},
        {"cabins": [{"cabin": "economy", "capacity": 10, "price": "1.00"}] * 2},
        {"cabins": [{"cabin": "first", "capacity": 10, "price": "1.00"}]},
        {"cabins": [{"cabin": "economy", "capacity": 0, "price": "1.00"}]},
        {"cabins": [{"cabin": "economy", "capacity": 10, "price": "1.00", "seats": 3}]},
        {"status": "scheduled"},
    ],
    ids=lambda overrides: ",".join(f"{k}={v}" for k, v in overrides.items())[:60],
)
async def test_invalid_flights_are_refused(client, admin, overrides):
    body = flight_body()
    departure = datetime.fromisoformat(body["departureTime"])
    if overrides.get("arrivalTime") == "PAST":
        overrides = {"arrivalTime": (departure - timedelta(minutes=5)).isoformat()}
    elif overrides.get("departureTime") == "PAST":
        then = datetime.now(UTC) - timedelta(hours=1)
        overrides = {"departureTime": then.isoformat(), "arrivalTime": (then + timedelta(hours=2)).isoformat()}
    elif overrides.get("arrivalTime") == "LONG":
        overrides = {"arrivalTime": (departure + timedelta(hours=25)).isoformat()}
    assert_error(await create(client, admin, {**body, **overrides}), 422, "VALIDATION_ERROR")


async def test_unknown_airport_names_the_field(client, admin):
    error = assert_error(await create(client, admin, flight_body(**{"from": "QQQ"})), 422, "VALIDATION_ERROR")
    assert error["details"]["errors"][0]["field"] == "body.from"


async def test_new_flight_is_searchable_at_once(client, admin):
    body = flight_body()
    day = datetime.fromisoformat(body["departureTime"]).date()
    params = search_params("RUH", "JED", day)
    await client.get("/api/v1/flights/search", params=params)  # cached before the flight exists
    flight = (await create(client, admin, body)).json()
    response = await client.get("/api/v1/flights/search", params=params)
    assert flight["id"] in [f["id"] for f in response.json()["flights"]]


async def test_passenger_is_forbidden(client, passenger, admin):
    assert_error(await create(client, passenger, flight_body()), 403, "FORBIDDEN")
    flight = (await create(client, admin, flight_body())).json()
    response = await client.patch(f"/api/v1/admin/flights/{flight['id']}", json={"status": "delayed"},
                                  headers=passenger.headers)
    assert_error(response, 403, "FORBIDDEN")


async def test_token_is_required(client):
    assert_error(await client.post("/api/v1/admin/flights", json=flight_body()), 401, "UNAUTHORIZED")
    assert_error(await client.patch(f"/api/v1/admin/flights/{uuid.uuid4()}", json={"status": "delayed"}), 401,
                 "UNAUTHORIZED")
    bad = {"Authorization": "Bearer not.a.token"}
    assert_error(await client.post("/api/v1/admin/flights", json=flight_body(), headers=bad), 401, "UNAUTHORIZED")
    # Even an invalid body answers 401 first: nothing is revealed to strangers.
    assert_error(await client.post("/api/v1/admin/flights", json={}), 401, "UNAUTHORIZED")
