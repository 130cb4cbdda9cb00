"""Flight test helpers: flights at exact local times, admin bodies, search parameters."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update

from ais.cache.search_cache import invalidate_search_cache
from ais.db.base import utcnow
from ais.flights.models import Cabin, CabinClass, Flight, FlightStatus
from ais.runtime import Runtime
from tests.factories import TEST_AIRPORTS

# Airports far west and far east of Riyadh, so that a local date and a UTC date differ.
EXTRA_AIRPORTS = [
    {"code": "JFK", "name": "John F. Kennedy International", "city": "New York", "country": "US",
     "timezone": "America/New_York"},
    {"code": "LHR", "name": "London Heathrow", "city": "London", "country": "GB", "timezone": "Europe/London"},
    {"code": "AKL", "name": "Auckland", "city": "Auckland", "country": "NZ", "timezone": "Pacific/Auckland"},
]
_serials = itertools.count(1)
ZONES = {a["code"]: ZoneInfo(a["timezone"]) for a in [*TEST_AIRPORTS, *EXTRA_AIRPORTS]}


def future_day(days: int = 20) -> date:
    return utcnow().date() + timedelta(days=days)


def local(day: date, hhmm: str, airport: str) -> datetime:
    """Wall-clock time at an airport → aware datetime (in the airport's zone)."""
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=ZONES[airport])


@dataclass
class MadeFlight:
    id: str
    flight_number: str
    cabin_ids: dict[str, str]


async def add_flight(
    runtime: Runtime,
    *,
    origin: str = "RUH",
    destination: str = "JED",
    departure: datetime,
    block: timedelta = timedelta(hours=1, minutes=50),
    economy_seats: int = 100,
    business_seats: int = 12,
    economy_fare_minor: int = 45000,
    business_fare_minor: int = 165000,
    currency: str = "SAR",
    status: FlightStatus = FlightStatus.SCHEDULED,
) -> MadeFlight:
    """A flight written straight to the database (as another process would), then the search
    cache invalidated as every real writer does."""
    serial = next(_serials)
    number = f"T{chr(65 + (serial // 10000) % 26)}{serial % 10000}"  # valid IATA form, unique per run
    async with runtime.session_factory() as session:
        flight = Flight(flight_number=number, origin=origin, destination=destination,
                        departure_at=departure.astimezone(UTC), arrival_at=(departure + block).astimezone(UTC),
                        status=status)
        session.add(flight)
        await session.flush()
        cabins = [
            Cabin(flight_id=flight.id, cabin_class=CabinClass.ECONOMY, capacity=economy_seats,
                  seats_available=economy_seats, fare_minor=economy_fare_minor, currency=currency),
            Cabin(flight_id=flight.id, cabin_class=CabinClass.BUSINESS, capacity=business_seats,
                  seats_available=business_seats, fare_minor=business_fare_minor, currency=currency),
        ]
        session.add_all(cabins)
        await session.commit()
    await invalidate_search_cache(runtime.store)
    return MadeFlight(id=str(flight.id), flight_number=number,
                      cabin_ids={c.cabin_class.value: str(c.id) for c in cabins})


async def sell_seats(runtime: Runtime, cabin_id: str, seats: int) -> None:
    """What a booking does to the inventory: one atomic decrement."""
    async with runtime.session_factory() as session:
        await session.execute(
            update(Cabin).where(Cabin.id == uuid.UUID(cabin_id)).values(seats_available=Cabin.seats_available - seats)
        )
        await session.commit()


def search_params(origin: str, destination: str, day: date, **extra: Any) -> dict[str, Any]:
    return {"from": origin, "to": destination, "date": day.isoformat(), **extra}


# Drawn in turn, not at random: every body departs at the same time, and two random numbers out of
# 10,000 collide within a session's few hundred bodies (a duplicate flight is refused).
_body_flight_numbers = itertools.count(uuid.uuid4().int % 10**4)


def flight_body(**overrides: Any) -> dict[str, Any]:
    """A valid admin create body, departing in about 40 days at 07:00 Riyadh time."""
    departure = local(future_day(40), "07:00", "RUH")
    body: dict[str, Any] = {
        "flightNumber": f"XY{next(_body_flight_numbers) % 10**4}",
        "from": "RUH",
        "to": "JED",
        "departureTime": departure.isoformat(),
        "arrivalTime": (departure + timedelta(hours=1, minutes=50)).isoformat(),
        "cabins": [
            {"cabin": "economy", "capacity": 150, "price": "450.00", "currency": "SAR"},
            {"cabin": "business", "capacity": 12, "price": "1650.00", "currency": "SAR"},
        ],
    }
    body.update(overrides)
    return body
