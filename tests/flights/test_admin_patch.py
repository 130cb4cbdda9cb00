"""SPEC §11 admin PATCH: status, times, fares (visible in search at once), capacity never below sold."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from ais.audit.models import AuditEntry
from ais.flights.models import Cabin, FlightStatus
from tests.flights.support import add_flight, flight_body, future_day, local, search_params, sell_seats
from tests.ops.contract import assert_error

pytestmark = pytest.mark.usefixtures("airports")


async def patch(client, admin, flight_id, body):
    return await client.patch(f"/api/v1/admin/flights/{flight_id}", json=body, headers=admin.headers)


async def cabin_row(runtime, cabin_id):
    async with runtime.session_factory() as session:
        cabin = await session.get(Cabin, uuid.UUID(cabin_id))
        return cabin.capacity, cabin.seats_available


async def test_fare_change_is_visible_in_search_immediately(client, runtime, admin):
    day = future_day(50)
    flight = await add_flight(runtime, departure=local(day, "07:00", "RUH"), economy_fare_minor=45000)
    params = search_params("RUH", "JED", day, passengers=2)
    first = await client.get("/api/v1/flights/search", params=params)
    assert (await client.get("/api/v1/flights/search", params=params)).headers["X-Cache"] == "HIT"
    assert [f["price"] for f in first.json()["flights"] if f["id"] == flight.id] == ["450.00"]

    response = await patch(client, admin, flight.id, {"cabins": [{"cabin": "economy", "price": "495.50"}]})
    assert response.status_code == 200, response.text
    assert response.json()["cabins"][0]["price"] == "495.50"

    after = await client.get("/api/v1/flights/search", params=params)
    assert after.headers["X-Cache"] == "MISS"
    assert [f["price"] for f in after.json()["flights"] if f["id"] == flight.id] == ["495.50"]


async def test_currency_change_needs_a_price_in_that_currency(client, runtime, admin):
    flight = await add_flight(runtime, departure=local(future_day(51), "07:00", "RUH"))
    assert_error(await patch(client, admin, flight.id, {"cabins": [{"cabin": "economy", "currency": "KWD"}]}),
                 422, "VALIDATION_ERROR")
    assert_error(await patch(client, admin, flight.id, {"cabins": [{"cabin": "economy", "price": "1.2345",
                                                                     "currency": "KWD"}]}), 422, "VALIDATION_ERROR")
    # Without a currency the price is read in the cabin's own currency (SAR: two decimals).
    error = assert_error(await patch(client, admin, flight.id, {"cabins": [{"cabin": "business", "price": "1.005"}]}),
                         422, "VALIDATION_ERROR")
    assert error["details"]["errors"][0]["field"] == "body.cabins.0.price"

    response = await patch(client, admin, flight.id, {"cabins": [{"cabin": "economy", "price": "12.345",
                                                                  "currency": "KWD"}]})
    assert response.status_code == 200, response.text
    assert response.json()["cabins"][0] | {"availableSeats": None} == {
        "cabin": "economy", "capacity": 100, "availableSeats": None, "price": "12.345", "currency": "KWD"}


async def test_capacity_never_drops_below_seats_sold(client, runtime, admin):
    flight = await add_flight(runtime, departure=local(future_day(52), "07:00", "RUH"), economy_seats=100)
    cabin_id = flight.cabin_ids["economy"]
    await sell_seats(runtime, cabin_id, 30)

    error = assert_error(await patch(client, admin, flight.id, {"cabins": [{"cabin": "economy", "capacity": 29}]}),
                         409, "BOOKING_CONFLICT")
    assert error["details"]["seatsSoldOrHeld"] == 30
    assert await cabin_row(runtime, cabin_id) == (100, 70)

    response = await patch(client, admin, flight.id, {"cabins": [{"cabin": "economy", "capacity": 120}]})
    assert response.status_code == 200, response.text
    assert await cabin_row(runtime, cabin_id) == (120, 90)

    response = await patch(client, admin, flight.id, {"cabins": [{"cabin": "economy", "capacity": 30}]})
    assert response.status_code == 200, response.text
    assert response.json()["cabins"][0]["availableSeats"] == 0
    assert await cabin_row(runtime, cabin_id) == (30, 0)


async def test_a_refused_change_changes_nothing(client, runtime, admin):
    flight = await add_flight(runtime, departure=local(future_day(53), "07:00", "RUH"), economy_seats=10)
    await sell_seats(runtime, flight.cabin_ids["economy"], 5)
    body = {"status": "delayed", "cabins": [{"cabin": "business", "price": "999.00"},
                                            {"cabin": "economy", "capacity": 4}]}
    assert_error(await patch(client, admin, flight.id, body), 409, "BOOKING_CONFLICT")
    detail = (await client.get(f"/api/v1/flights/{flight.id}")).json()
    assert detail["status"] == "scheduled"
    assert [c["price"] for c in detail["cabins"]] == ["450.00", "1650.00"]


@pytest.mark.postgres_only
async def test_resizing_while_seats_sell_loses_no_sale(runtime):
    """Sales decrement seats_available while the cabin is resized: the resize is one statement
    relative to the current row, so every sale survives and sold seats stay sold."""
    from ais.flights import repository

    async def sell_one(cabin_id: uuid.UUID, hold: float = 0.0) -> bool:
        async with runtime.session_factory() as session:
            result = await session.execute(
                update(Cabin).where(Cabin.id == cabin_id, Cabin.seats_available >= 1)
                .values(seats_available=Cabin.seats_available - 1)
            )
            await asyncio.sleep(hold)  # keep the row lock while resizes queue up behind it
            await session.commit()
            return bool(result.rowcount)

    async def sold(cabin_id: uuid.UUID) -> int:
        async with runtime.session_factory() as session:
            cabin = (await session.execute(select(Cabin).where(Cabin.id == cabin_id))).scalar_one()
            return cabin.capacity - cabin.seats_available

    # The race exists: a read-modify-write resize overwrites a sale made between its read and write.
    naive = uuid.UUID((await add_flight(runtime, departure=local(future_day(54), "07:00", "RUH"),
                                        economy_seats=200)).cabin_ids["economy"])
    async with runtime.session_factory() as session:
        cabin = await session.get(Cabin, naive)
        capacity, available = cabin.capacity, cabin.seats_available
        assert await sell_one(naive)
        await session.execute(update(Cabin).where(Cabin.id == naive)
                              .values(capacity=250, seats_available=available + (250 - capacity)))
        await session.commit()
    assert await sold(naive) == 0  # one seat sold, none accounted for: it would be sold twice

    # The atomic resize keeps every sale, in the same interleaving and under concurrency.
    cabin_id = uuid.UUID((await add_flight(runtime, departure=local(future_day(54), "09:00", "RUH"),
                                           economy_seats=200)).cabin_ids["economy"])
    async with runtime.session_factory() as session:
        await session.get(Cabin, cabin_id)
        assert await sell_one(cabin_id)
        assert await repository.set_capacity(session, cabin_id, 250)
        await session.commit()
    assert await sold(cabin_id) == 1

    async def resize(capacity: int) -> bool:
        async with runtime.session_factory() as session:
            changed = await repository.set_capacity(session, cabin_id, capacity)
            await session.commit()
            return changed

    results = await asyncio.gather(*[sell_one(cabin_id, hold=0.005) for _ in range(30)],
                                   *[resize(c) for c in (180, 220, 190, 250, 210)])
    assert all(results)
    assert await sold(cabin_id) == 31


async def test_status_changes_follow_the_rules(client, runtime, admin):
    day = future_day(55)
    flight = await add_flight(runtime, departure=local(day, "07:00", "RUH"))
    params = search_params("RUH", "JED", day)

    delayed = await patch(client, admin, flight.id, {"status": "delayed"})
    assert delayed.status_code == 200 and delayed.json()["status"] == "delayed"
    assert flight.id in [f["id"] for f in (await client.get("/api/v1/flights/search", params=params)).json()["flights"]]

    assert (await patch(client, admin, flight.id, {"status": "cancelled"})).status_code == 200
    assert flight.id not in [f["id"] for f in
                             (await client.get("/api/v1/flights/search", params=params)).json()["flights"]]
    error = assert_error(await patch(client, admin, flight.id, {"status": "scheduled"}), 409,
                         "INVALID_STATE_TRANSITION")
    assert error["details"] == {"from": "cancelled", "to": "scheduled"}
    # Times of a cancelled flight are history.
    later = local(day, "09:00", "RUH")
    assert_error(await patch(client, admin, flight.id, {"departureTime": later.isoformat()}), 409,
                 "BOOKING_CONFLICT")


async def test_times_change_and_are_audited(client, runtime, admin):
    day = future_day(56)
    flight = await add_flight(runtime, departure=local(day, "07:00", "RUH"), block=timedelta(hours=2))
    new_departure = local(day, "08:30", "RUH")
    body = {"status": "delayed", "departureTime": new_departure.isoformat(),
            "arrivalTime": (new_departure + timedelta(hours=2)).isoformat()}
    response = await patch(client, admin, flight.id, body)
    assert response.status_code == 200, response.text
    assert response.json()["departureTime"] == new_departure.isoformat()
    assert response.json()["arrivalTime"] == (new_departure + timedelta(hours=2)).isoformat()

    # Only the arrival: checked against the stored departure.
    assert_error(await patch(client, admin, flight.id, {"arrivalTime": local(day, "08:00", "RUH").isoformat()}),
                 422, "VALIDATION_ERROR")
    assert_error(await patch(client, admin, flight.id, {"departureTime": "2026-12-01T08:00:00"}),
                 422, "VALIDATION_ERROR")

    async with runtime.session_factory() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.resource_id == flight.id,
                                                               AuditEntry.action == "flight.update"))
    assert entry is not None and str(entry.actor_id) == admin.id
    assert entry.changes["status"] == {"from": "scheduled", "to": "delayed"}
    assert datetime.fromisoformat(entry.changes["departureTime"]["to"]) == new_departure


async def test_moving_onto_another_departure_of_the_same_number_is_a_conflict(client, admin):
    body = flight_body()
    first = (await client.post("/api/v1/admin/flights", json=body, headers=admin.headers)).json()
    later = {key: (datetime.fromisoformat(body[key]) + timedelta(hours=3)).isoformat()
             for key in ("departureTime", "arrivalTime")}
    second = (await client.post("/api/v1/admin/flights", json={**body, **later}, headers=admin.headers)).json()
    assert_error(await patch(client, admin, second["id"], {"departureTime": first["departureTime"],
                                                          "arrivalTime": first["arrivalTime"]}),
                 409, "BOOKING_CONFLICT")


async def test_cabin_the_flight_does_not_have(client, admin):
    body = flight_body(cabins=[{"cabin": "economy", "capacity": 100, "price": "300.00"}])
    flight = (await client.post("/api/v1/admin/flights", json=body, headers=admin.headers)).json()
    error = assert_error(await patch(client, admin, flight["id"], {"cabins": [{"cabin": "business", "capacity": 10}]}),
                         422, "VALIDATION_ERROR")
    assert error["details"]["errors"][0]["field"] == "body.cabins.0.cabin"


@pytest.mark.parametrize(
    "body",
    [{}, {"status": "boarding"}, {"cabins": []}, {"cabins": [{"cabin": "economy"}]},
     {"cabins": [{"cabin": "economy", "capacity": -1}]}, {"cabins": [{"cabin": "economy", "price": 12.5}]},
     {"cabins": [{"cabin": "economy", "capacity": 5}, {"cabin": "economy", "capacity": 6}]},
     {"flightNumber": "SV1"}],
)
async def test_invalid_patches(client, runtime, admin, body):
    flight = await add_flight(runtime, departure=local(future_day(57), "07:00", "RUH"))
    assert_error(await patch(client, admin, flight.id, body), 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("flight_id", [str(uuid.uuid4()), "nope"])
async def test_unknown_flight(client, admin, flight_id):
    assert_error(await patch(client, admin, flight_id, {"status": "delayed"}), 404, "NOT_FOUND")


async def test_departed_flight_can_arrive_only(client, runtime, admin):
    flight = await add_flight(runtime, departure=local(future_day(58), "07:00", "RUH"), status=FlightStatus.DEPARTED)
    assert_error(await patch(client, admin, flight.id, {"status": "delayed"}), 409, "INVALID_STATE_TRANSITION")
    assert (await patch(client, admin, flight.id, {"status": "arrived"})).json()["status"] == "arrived"
