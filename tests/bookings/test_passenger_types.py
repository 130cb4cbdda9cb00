"""Passenger types follow the date of birth on the local departure date at the origin (SPEC §4):
the client can never choose a cheaper fare or a seatless passenger through `type`."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from ais.bookings.models import PassengerType
from ais.bookings.passenger_types import age_on, type_for_age
from ais.flights.models import Flight
from tests.bookings.support import seats_left
from tests.factories import booking_body, idempotency_key, new_flight

CONTRACT_KEYS = {"code", "message", "correlationId", "retryable", "details"}


def _years_before(day: date, years: int) -> date:
    """The latest date of birth that makes someone `years` old on `day`."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a common year: born the day before
        return day.replace(year=day.year - years, day=28)


def _person(first: str, kind: str, born: date | None = None) -> dict[str, str]:
    person = {"firstName": first, "lastName": "Alharbi", "type": kind}
    if born is not None:
        person["dateOfBirth"] = born.isoformat()
    return person


async def _book(client, passenger, flight, people):  # type: ignore[no-untyped-def]
    body = {**booking_body(flight), "passengers": people}
    return await client.post("/api/v1/bookings", json=body, headers={**passenger.headers, **idempotency_key()})


def _field_errors(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == CONTRACT_KEYS and body["code"] == "VALIDATION_ERROR"
    return {error["field"]: error["message"] for error in body["details"]["errors"]}


async def test_an_adult_sent_as_an_infant_is_refused_and_takes_nothing(client, runtime, passenger):
    flight = await new_flight(runtime, economy_seats=3)
    response = await _book(client, passenger, flight, [
        _person("Sara", "adult"), _person("Grandpa", "infant", date(1950, 5, 1)),
    ])
    errors = _field_errors(response)
    assert list(errors) == ["body.passengers.1.dateOfBirth"]
    assert "adult" in errors["body.passengers.1.dateOfBirth"]
    assert await seats_left(runtime, flight.economy_cabin_id) == 3


async def test_types_that_contradict_the_date_of_birth(client, runtime, passenger):
    flight = await new_flight(runtime, economy_seats=9)
    today = datetime.now(UTC).date()
    cases = [
        # (passengers, the field named)
        ([_person("Sara", "adult"), _person("Omar", "child", _years_before(today, 30))],
         "body.passengers.1.dateOfBirth"),  # an adult sent as a child
        ([_person("Sara", "adult"), _person("Omar", "adult", _years_before(today, 5))],
         "body.passengers.1.dateOfBirth"),  # a child sent as an adult
        ([_person("Sara", "adult"), _person("Lina", "child", today - timedelta(days=100))],
         "body.passengers.1.dateOfBirth"),  # an infant sent as a child
        ([_person("Sara", "adult"), _person("Lina", "infant")], "body.passengers.1.dateOfBirth"),  # no birth date
        ([_person("Sara", "adult"), _person("Omar", "child")], "body.passengers.1.dateOfBirth"),
        ([_person("Omar", "child", _years_before(today, 8))], "body.passengers"),  # no adult
        ([_person("Sara", "adult"), _person("A", "infant", today - timedelta(days=30)),
          _person("B", "infant", today - timedelta(days=60))], "body.passengers"),  # two laps needed
        ([_person("Sara", "adult", _years_before(today, 40)), _person("Omar", "child", today + timedelta(days=30))],
         "body.passengers.1.dateOfBirth"),  # born in the future
    ]
    for people, field in cases:
        response = await _book(client, passenger, flight, people)
        assert field in _field_errors(response), (people, response.text)
    assert await seats_left(runtime, flight.economy_cabin_id) == 9


async def test_fares_and_seats_follow_the_checked_types(client, runtime, passenger):
    flight = await new_flight(runtime, economy_seats=9, economy_fare_minor=45000)
    today = datetime.now(UTC).date()
    response = await _book(client, passenger, flight, [
        _person("Sara", "adult", _years_before(today, 12)),  # 12 today: an adult
        _person("Omar", "child", _years_before(today, 2)),  # 2 today: a child
        _person("Lina", "infant", today - timedelta(days=1)),
        _person("Ali", "adult"),  # an adult's date of birth is optional
    ])
    assert response.status_code == 201, response.text
    assert response.json()["totalAmount"] == "1395.00"  # 3 full fares + a tenth for the lap infant
    assert await seats_left(runtime, flight.economy_cabin_id) == 6


async def test_the_age_counts_on_the_local_departure_date_at_the_origin(client, runtime, passenger):
    """23:30 UTC is 02:30 the next day in Riyadh: a child born two years before that local date
    is 2 on the day of the flight, although still 1 on the UTC date."""
    flight = await new_flight(runtime, origin="RUH")
    departure = datetime.combine(datetime.now(UTC).date() + timedelta(days=10), datetime.min.time(),
                                 tzinfo=UTC) + timedelta(hours=23, minutes=30)
    async with runtime.session_factory() as session:
        row = await session.get(Flight, uuid.UUID(flight.id))
        row.departure_at, row.arrival_at = departure, departure + timedelta(hours=2)
        await session.commit()
    local_day = departure.date() + timedelta(days=1)
    second_birthday_locally = _years_before(local_day, 2)
    as_infant = await _book(client, passenger, flight, [_person("Sara", "adult"),
                                                          _person("Omar", "infant", second_birthday_locally)])
    assert "body.passengers.1.dateOfBirth" in _field_errors(as_infant)
    as_child = await _book(client, passenger, flight, [_person("Sara", "adult"),
                                                         _person("Omar", "child", second_birthday_locally)])
    assert as_child.status_code == 201, as_child.text


@pytest.mark.parametrize("born,day,age", [
    (date(2020, 3, 1), date(2022, 2, 28), 1),
    (date(2020, 3, 1), date(2022, 3, 1), 2),
    (date(2020, 2, 29), date(2022, 2, 28), 1),  # a leap-day baby turns 2 on 1 March
    (date(2020, 2, 29), date(2022, 3, 1), 2),
    (date(2020, 2, 29), date(2024, 2, 29), 4),
    (date(2014, 12, 31), date(2026, 12, 30), 11),
    (date(2014, 12, 31), date(2026, 12, 31), 12),
])
def test_age_in_whole_years(born, day, age):
    assert age_on(born, day) == age


def test_type_boundaries():
    assert [type_for_age(age) for age in (0, 1, 2, 11, 12, 90)] == [
        PassengerType.INFANT, PassengerType.INFANT, PassengerType.CHILD, PassengerType.CHILD,
        PassengerType.ADULT, PassengerType.ADULT]
