"""SPEC §7 flight detail: read live, per cabin, never from the search cache."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.flights.support import ZONES, add_flight, future_day, local, search_params, sell_seats
from tests.ops.contract import assert_error

pytestmark = pytest.mark.usefixtures("airports")


async def test_flight_detail_shape(client, runtime):
    departure = local(future_day(30), "22:05", "RUH")
    flight = await add_flight(runtime, origin="RUH", destination="NRT", departure=departure,
                              block=timedelta(hours=11, minutes=35), economy_seats=270, business_seats=36,
                              economy_fare_minor=395000, business_fare_minor=1350000)

    response = await client.get(f"/api/v1/flights/{flight.id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "id": flight.id,
        "flightNumber": flight.flight_number,
        "from": "RUH",
        "to": "NRT",
        "departureTime": departure.isoformat(),
        "arrivalTime": (departure + timedelta(hours=11, minutes=35)).astimezone(ZONES["NRT"]).isoformat(),
        "status": "scheduled",
        "cabins": [
            {"cabin": "economy", "capacity": 270, "availableSeats": 270, "price": "3950.00", "currency": "SAR"},
            {"cabin": "business", "capacity": 36, "availableSeats": 36, "price": "13500.00", "currency": "SAR"},
        ],
    }
    assert body["arrivalTime"].endswith("+09:00")


async def test_detail_is_live_while_search_is_cached(client, runtime):
    day = future_day(31)
    flight = await add_flight(runtime, departure=local(day, "15:00", "RUH"), economy_seats=50)
    params = search_params("RUH", "JED", day)
    await client.get("/api/v1/flights/search", params=params)  # warm the cache

    # A sale that does not sell the cabin out does not invalidate the search cache…
    await sell_seats(runtime, flight.cabin_ids["economy"], 5)
    cached = await client.get("/api/v1/flights/search", params=params)
    assert cached.headers["X-Cache"] == "HIT"
    # …but the flight itself is always read from the database.
    detail = (await client.get(f"/api/v1/flights/{flight.id}")).json()
    assert detail["cabins"][0]["availableSeats"] == 45


@pytest.mark.parametrize("flight_id", [str(uuid.uuid4()), "not-a-uuid", "123", "%20", "00000000-0000-0000-0000"])
async def test_unknown_or_malformed_id_is_not_found(client, flight_id):
    assert_error(await client.get(f"/api/v1/flights/{flight_id}"), 404, "NOT_FOUND")


async def test_no_token_needed(client, runtime):
    flight = await add_flight(runtime, departure=local(future_day(32), "09:00", "RUH"))
    response = await client.get(f"/api/v1/flights/{flight.id}", headers={"Authorization": "Bearer nonsense"})
    # Public route: a token is neither needed nor checked.
    assert response.status_code == 200
