"""SPEC §7 flight search: local dates at the origin, seats, statuses, order, validation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ais.db.base import utcnow
from ais.flights.models import FlightStatus
from tests.flights.support import ZONES, add_flight, future_day, local, search_params, sell_seats
from tests.ops.contract import assert_error

pytestmark = pytest.mark.usefixtures("airports")

OFFER_KEYS = {"id", "flightNumber", "from", "to", "departureTime", "arrivalTime", "cabin", "price", "currency",
              "availableSeats"}


async def search(client, origin, destination, day, **extra):
    response = await client.get("/api/v1/flights/search", params=search_params(origin, destination, day, **extra))
    assert response.status_code == 200, response.text
    return response.json()["flights"]


def ids(flights):
    return [f["id"] for f in flights]


async def test_date_is_the_local_date_west_of_utc(client, runtime):
    day = future_day(21)
    # 23:30 in New York is already the next day in UTC.
    departure = local(day, "23:30", "JFK")
    assert departure.astimezone(ZONES["RUH"]).date() != day
    flight = await add_flight(runtime, origin="JFK", destination="LHR", departure=departure,
                              block=timedelta(hours=7))

    found = [f for f in await search(client, "JFK", "LHR", day) if f["id"] == flight.id]
    assert len(found) == 1
    offer = found[0]
    assert set(offer) == OFFER_KEYS
    # Departure shown in New York time, arrival in London time, each with its own offset.
    assert offer["departureTime"] == departure.isoformat()
    assert offer["departureTime"].startswith(f"{day.isoformat()}T23:30:00-0")
    arrival = (departure + timedelta(hours=7)).astimezone(ZONES["LHR"])
    assert offer["arrivalTime"] == arrival.isoformat()
    assert flight.id not in ids(await search(client, "JFK", "LHR", day + timedelta(days=1)))


async def test_date_is_the_local_date_east_of_utc(client, runtime):
    day = future_day(22)
    # 07:30 in Tokyo is still the previous day in UTC.
    departure = local(day, "07:30", "NRT")
    assert departure.astimezone(ZONES["JFK"]).date() == day - timedelta(days=1)
    flight = await add_flight(runtime, origin="NRT", destination="RUH", departure=departure,
                              block=timedelta(hours=12, minutes=40), economy_fare_minor=98000, currency="JPY")

    [offer] = [f for f in await search(client, "NRT", "RUH", day) if f["id"] == flight.id]
    assert offer["departureTime"] == f"{day.isoformat()}T07:30:00+09:00"
    assert offer["arrivalTime"].endswith("+03:00")
    assert (offer["price"], offer["currency"]) == ("98000", "JPY")
    assert flight.id not in ids(await search(client, "NRT", "RUH", day - timedelta(days=1)))


async def test_midnight_edges_of_the_local_day(client, runtime):
    day = future_day(23)
    first = await add_flight(runtime, origin="AKL", destination="NRT", departure=local(day, "00:00", "AKL"))
    last = await add_flight(runtime, origin="AKL", destination="NRT", departure=local(day, "23:59", "AKL"))
    next_day = await add_flight(runtime, origin="AKL", destination="NRT",
                                departure=local(day + timedelta(days=1), "00:00", "AKL"))

    found = ids(await search(client, "AKL", "NRT", day))
    assert first.id in found and last.id in found
    assert next_day.id not in found


async def test_results_show_price_per_passenger_and_seats_of_the_cabin(client, runtime):
    day = future_day(24)
    flight = await add_flight(runtime, departure=local(day, "09:00", "RUH"), economy_seats=150, business_seats=20,
                              economy_fare_minor=45000, business_fare_minor=165050)

    [economy] = [f for f in await search(client, "RUH", "JED", day, passengers=2) if f["id"] == flight.id]
    assert economy["cabin"] == "economy"
    assert (economy["price"], economy["currency"], economy["availableSeats"]) == ("450.00", "SAR", 150)
    assert economy["flightNumber"] == flight.flight_number
    assert (economy["from"], economy["to"]) == ("RUH", "JED")

    [business] = [f for f in await search(client, "RUH", "JED", day, cabin="business") if f["id"] == flight.id]
    assert (business["cabin"], business["price"], business["availableSeats"]) == ("business", "1650.50", 20)


async def test_passengers_need_that_many_seats_left(client, runtime):
    day = future_day(25)
    flight = await add_flight(runtime, departure=local(day, "10:00", "RUH"), economy_seats=10)
    await sell_seats(runtime, flight.cabin_ids["economy"], 7)

    assert flight.id in ids(await search(client, "RUH", "JED", day, passengers=3, **{"_": "a"}))
    assert flight.id not in ids(await search(client, "RUH", "JED", day, passengers=4))


async def test_only_sellable_flights_that_have_not_departed(client, runtime):
    day = future_day(26)
    scheduled = await add_flight(runtime, departure=local(day, "06:00", "RUH"))
    delayed = await add_flight(runtime, departure=local(day, "07:00", "RUH"), status=FlightStatus.DELAYED)
    hidden = [
        await add_flight(runtime, departure=local(day, "08:00", "RUH"), status=status)
        for status in (FlightStatus.CANCELLED, FlightStatus.DEPARTED, FlightStatus.ARRIVED)
    ]
    found = ids(await search(client, "RUH", "JED", day))
    assert scheduled.id in found and delayed.id in found
    assert not set(found) & {flight.id for flight in hidden}

    # Still "scheduled" (nobody marked it departed yet), but its departure time has passed.
    left_at = utcnow() - timedelta(minutes=30)
    gone = await add_flight(runtime, departure=left_at)
    assert gone.id not in ids(await search(client, "RUH", "JED", left_at.astimezone(ZONES["RUH"]).date()))


async def test_ordered_by_departure(client, runtime):
    day = future_day(27)
    late = await add_flight(runtime, origin="DXB", destination="KWI", departure=local(day, "18:00", "DXB"))
    early = await add_flight(runtime, origin="DXB", destination="KWI", departure=local(day, "06:00", "DXB"))
    noon = await add_flight(runtime, origin="DXB", destination="KWI", departure=local(day, "12:00", "DXB"))

    mine = [i for i in ids(await search(client, "DXB", "KWI", day)) if i in {late.id, early.id, noon.id}]
    assert mine == [early.id, noon.id, late.id]
    times = [f["departureTime"] for f in await search(client, "DXB", "KWI", day)]
    assert times == sorted(times)


async def test_post_search_takes_the_same_fields_as_a_body(client, runtime):
    day = future_day(28)
    flight = await add_flight(runtime, departure=local(day, "11:00", "RUH"))
    body = {"from": "ruh", "to": "jed", "date": day.isoformat(), "passengers": 2, "cabin": "economy"}

    response = await client.post("/api/v1/flights/search", json=body)
    assert response.status_code == 200, response.text
    assert flight.id in ids(response.json()["flights"])
    get = await client.get("/api/v1/flights/search", params=body)
    assert get.json() == response.json()

    assert_error(await client.post("/api/v1/flights/search", json={**body, "sort": "price"}), 422, "VALIDATION_ERROR")


async def test_lower_case_codes_and_defaults(client, runtime):
    day = future_day(29)
    flight = await add_flight(runtime, departure=local(day, "12:00", "RUH"), economy_seats=1)
    # passengers defaults to 1 and cabin to economy.
    assert flight.id in ids(await search(client, "ruh", " jed ", day))


@pytest.mark.parametrize(
    "params",
    [
        {"from": "RUH", "to": "RUH"},
        {"from": "RU1"},
        {"from": "RUHX"},
        {"to": ""},
        {"passengers": 0},
        {"passengers": 10},
        {"passengers": "two"},
        {"cabin": "first"},
        {"date": "2026-02-30"},
        {"date": "tomorrow"},
        {"date": "PAST"},
        {"date": "FAR"},
        {"date": None},
        {"from": None},
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()),
)
async def test_invalid_search_is_a_validation_error(client, params):
    query = search_params("RUH", "JED", future_day(5), passengers=1)
    if params.get("date") == "PAST":
        params = {"date": (utcnow().date() - timedelta(days=3)).isoformat()}
    if params.get("date") == "FAR":
        params = {"date": "9999-12-31"}
    query.update(params)
    query = {k: v for k, v in query.items() if v is not None}

    body = assert_error(await client.get("/api/v1/flights/search", params=query), 422, "VALIDATION_ERROR")
    assert body["details"]["errors"]
    post_body = {k: v for k, v in query.items()}
    assert_error(await client.post("/api/v1/flights/search", json=post_body), 422, "VALIDATION_ERROR")


async def test_yesterday_is_still_searchable(client):
    # West of Greenwich it is still "yesterday" while UTC has moved on.
    yesterday = utcnow().date() - timedelta(days=1)
    response = await client.get("/api/v1/flights/search", params=search_params("JFK", "LHR", yesterday))
    assert response.status_code == 200, response.text
