"""Factories: every test makes its own users, flights and bookings, so tests never share rows."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from ais.db.base import utcnow
from ais.db.upsert import insert_if_absent
from ais.flights.models import Airport, Cabin, CabinClass, Flight
from ais.identity.models import Role, User
from ais.runtime import Runtime

PASSWORD = "correct horse battery staple"
_flight_numbers = itertools.count(100)

TEST_AIRPORTS = [
    {"code": code, "name": name, "city": city, "country": country, "timezone": zone}
    for code, name, city, country, zone in (
        ("RUH", "King Khalid International", "Riyadh", "SA", "Asia/Riyadh"),
        ("JED", "King Abdulaziz International", "Jeddah", "SA", "Asia/Riyadh"),
        ("DXB", "Dubai International", "Dubai", "AE", "Asia/Dubai"),
        ("NRT", "Narita International", "Tokyo", "JP", "Asia/Tokyo"),
        ("KWI", "Kuwait International", "Kuwait City", "KW", "Asia/Kuwait"),
    )
]


@dataclass
class TestUser:
    id: str
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def idempotency_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def new_user(client: httpx.AsyncClient, runtime: Runtime | None = None, *, admin: bool = False,
                   device_name: str = "test-device") -> TestUser:
    email = f"user-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "fullName": "Test Passenger"}
    )
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]
    if admin:
        assert runtime is not None, "promoting to admin needs the runtime"
        async with runtime.session_factory() as session:
            await session.execute(update(User).where(User.email == email).values(role=Role.ADMIN))
            await session.commit()
    tokens = await login(client, email, device_name=device_name)
    return TestUser(id=user_id, email=email, access_token=tokens["accessToken"], refresh_token=tokens["refreshToken"])


async def login(client: httpx.AsyncClient, email: str, *, device_name: str = "test-device") -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD, "deviceName": device_name}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def ensure_airports(runtime: Runtime) -> None:
    async with runtime.session_factory() as session:
        for airport in TEST_AIRPORTS:
            await insert_if_absent(session, Airport.__table__, airport, ["code"])
        await session.commit()


@dataclass
class TestFlight:
    id: str
    flight_number: str
    economy_cabin_id: str
    business_cabin_id: str


async def new_flight(
    runtime: Runtime,
    *,
    origin: str = "RUH",
    destination: str = "JED",
    departs_in: timedelta = timedelta(days=3),
    duration: timedelta = timedelta(hours=1, minutes=45),
    economy_seats: int = 100,
    business_seats: int = 12,
    economy_fare_minor: int = 45000,
    business_fare_minor: int = 180000,
    currency: str = "SAR",
) -> TestFlight:
    """A flight inserted straight into the database (the admin API has its own tests)."""
    await ensure_airports(runtime)
    departure = (utcnow() + departs_in).replace(microsecond=0)
    serial = next(_flight_numbers)
    number = f"X{chr(65 + (serial // 10000) % 26)}{serial % 10000}"  # a valid IATA flight number
    async with runtime.session_factory() as session:
        flight = Flight(flight_number=number, origin=origin, destination=destination,
                        departure_at=departure, arrival_at=departure + duration)
        session.add(flight)
        await session.flush()
        economy = Cabin(flight_id=flight.id, cabin_class=CabinClass.ECONOMY, capacity=economy_seats,
                        seats_available=economy_seats, fare_minor=economy_fare_minor, currency=currency)
        business = Cabin(flight_id=flight.id, cabin_class=CabinClass.BUSINESS, capacity=business_seats,
                         seats_available=business_seats, fare_minor=business_fare_minor, currency=currency)
        session.add_all([economy, business])
        await session.commit()
        return TestFlight(id=str(flight.id), flight_number=number,
                          economy_cabin_id=str(economy.id), business_cabin_id=str(business.id))


def passengers(count: int = 1, *, infants: int = 0) -> list[dict[str, Any]]:
    people = [{"firstName": f"Sara{i}", "lastName": "Alharbi", "type": "adult"} for i in range(count)]
    # Passenger types follow the date of birth on the departure date: a baby of about 10 months.
    born = (utcnow() - timedelta(days=300)).date().isoformat()
    people += [{"firstName": f"Baby{i}", "lastName": "Alharbi", "type": "infant", "dateOfBirth": born}
               for i in range(infants)]
    return people


def booking_body(flight: TestFlight | str, *, count: int = 1, cabin: str = "economy", infants: int = 0,
                 contact_email: str = "sara@example.com") -> dict[str, Any]:
    flight_id = flight if isinstance(flight, str) else flight.id
    return {"flightId": flight_id, "cabin": cabin, "passengers": passengers(count, infants=infants),
            "contactEmail": contact_email}


async def book(client: httpx.AsyncClient, user: TestUser, flight: TestFlight | str, **kwargs: Any) -> httpx.Response:
    return await client.post(
        "/api/v1/bookings", json=booking_body(flight, **kwargs), headers={**user.headers, **idempotency_key()}
    )
