"""Demo data: real airports with their IANA zones and a month of daily flights on ~10 routes.

Schedules are written as airline timetables are: local departure time at the origin, block
time, fare in the currency sold at the origin (mostly SAR; Kuwait sells in KWD and Tokyo in
JPY, so three currency exponents show). Departures are converted to UTC through zoneinfo.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from ais.db.base import utcnow
from ais.flights import repository
from ais.flights.models import CabinClass, FlightStatus
from ais.money import parse_amount

# (IATA code, name, city, ISO country, IANA time zone)
_AIRPORT_ROWS: list[tuple[str, str, str, str, str]] = [
    ("RUH", "King Khalid International", "Riyadh", "SA", "Asia/Riyadh"),
    ("JED", "King Abdulaziz International", "Jeddah", "SA", "Asia/Riyadh"),
    ("DMM", "King Fahd International", "Dammam", "SA", "Asia/Riyadh"),
    ("MED", "Prince Mohammad bin Abdulaziz International", "Madinah", "SA", "Asia/Riyadh"),
    ("AHB", "Abha International", "Abha", "SA", "Asia/Riyadh"),
    ("DXB", "Dubai International", "Dubai", "AE", "Asia/Dubai"),
    ("DOH", "Hamad International", "Doha", "QA", "Asia/Qatar"),
    ("BAH", "Bahrain International", "Muharraq", "BH", "Asia/Bahrain"),
    ("KWI", "Kuwait International", "Kuwait City", "KW", "Asia/Kuwait"),
    ("MCT", "Muscat International", "Muscat", "OM", "Asia/Muscat"),
    ("AMM", "Queen Alia International", "Amman", "JO", "Asia/Amman"),
    ("CAI", "Cairo International", "Cairo", "EG", "Africa/Cairo"),
    ("IST", "Istanbul Airport", "Istanbul", "TR", "Europe/Istanbul"),
    ("LHR", "London Heathrow", "London", "GB", "Europe/London"),
    ("CDG", "Paris Charles de Gaulle", "Paris", "FR", "Europe/Paris"),
    ("NRT", "Narita International", "Tokyo", "JP", "Asia/Tokyo"),
    ("KUL", "Kuala Lumpur International", "Sepang", "MY", "Asia/Kuala_Lumpur"),
    ("JFK", "John F. Kennedy International", "New York", "US", "America/New_York"),
]
AIRPORTS: list[dict[str, str]] = [
    {"code": code, "name": name, "city": city, "country": country, "timezone": zone}
    for code, name, city, country, zone in _AIRPORT_ROWS
]


@dataclass(frozen=True, slots=True)
class Sector:
    """One daily flight of the timetable."""

    number: str
    origin: str
    destination: str
    departs: time  # local time at the origin
    block: timedelta
    economy_seats: int
    business_seats: int
    economy_fare: str
    business_fare: str
    currency: str = "SAR"


def _t(hhmm: str) -> time:
    return time.fromisoformat(hhmm)


def _h(hours: int, minutes: int = 0) -> timedelta:
    return timedelta(hours=hours, minutes=minutes)


TIMETABLE: list[Sector] = [
    Sector("SV1020", "RUH", "JED", _t("07:00"), _h(1, 50), 250, 24, "450.00", "1650.00"),
    Sector("SV1021", "JED", "RUH", _t("10:30"), _h(1, 45), 250, 24, "450.00", "1650.00"),
    Sector("SV1040", "RUH", "DMM", _t("08:15"), _h(1, 5), 150, 12, "290.00", "990.00"),
    Sector("SV1041", "DMM", "RUH", _t("11:00"), _h(1, 5), 150, 12, "290.00", "990.00"),
    Sector("SV1450", "JED", "MED", _t("09:00"), _h(1), 150, 12, "260.00", "880.00"),
    Sector("SV1451", "MED", "JED", _t("12:30"), _h(1), 150, 12, "260.00", "880.00"),
    Sector("SV554", "RUH", "DXB", _t("13:45"), _h(2, 5), 180, 24, "780.00", "2900.00"),
    Sector("SV555", "DXB", "RUH", _t("18:00"), _h(2), 180, 24, "760.00", "2850.00"),
    Sector("SV500", "RUH", "KWI", _t("16:20"), _h(1, 40), 150, 16, "520.00", "1900.00"),
    Sector("SV501", "KWI", "RUH", _t("19:00"), _h(1, 40), 150, 16, "45.500", "165.750", "KWD"),
    Sector("SV306", "JED", "CAI", _t("15:00"), _h(2, 15), 220, 30, "890.00", "3100.00"),
    Sector("SV307", "CAI", "JED", _t("20:10"), _h(2, 10), 220, 30, "870.00", "3050.00"),
    Sector("SV263", "RUH", "IST", _t("02:10"), _h(5, 5), 260, 30, "1450.00", "5200.00"),
    Sector("SV264", "IST", "RUH", _t("10:40"), _h(4, 45), 260, 30, "1420.00", "5100.00"),
    Sector("SV119", "RUH", "LHR", _t("09:45"), _h(6, 55), 240, 36, "2850.00", "9800.00"),
    Sector("SV120", "LHR", "RUH", _t("21:30"), _h(6, 20), 240, 36, "2790.00", "9650.00"),
    Sector("SV880", "RUH", "NRT", _t("22:05"), _h(11, 35), 270, 36, "3950.00", "13500.00"),
    Sector("SV881", "NRT", "RUH", _t("23:40"), _h(12, 40), 270, 36, "98000", "385000", "JPY"),
    Sector("SV627", "RUH", "AMM", _t("14:30"), _h(2, 40), 150, 16, "680.00", "2400.00"),
    Sector("SV628", "AMM", "RUH", _t("18:45"), _h(2, 35), 150, 16, "670.00", "2380.00"),
]


async def seed_demo(session: AsyncSession, *, days: int = 30, start: date | None = None) -> int:
    """Insert the demo airports (existing ones kept) and `days` days of the timetable from
    `start` (default: today, UTC). Returns how many flights were inserted: 0, changing no
    flight, when any flight already exists. Does not commit: the caller does."""
    if days < 1:
        raise ValueError("days must be at least 1")
    await repository.insert_airports(session, AIRPORTS)
    if await repository.any_flight_exists(session):
        return 0
    first_day = start or utcnow().date()
    zones = {airport["code"]: ZoneInfo(airport["timezone"]) for airport in AIRPORTS}
    now = utcnow()
    flights: list[dict[str, Any]] = []
    cabins: list[dict[str, Any]] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        for sector in TIMETABLE:
            departure = datetime.combine(day, sector.departs, tzinfo=zones[sector.origin]).astimezone(UTC)
            flight_id = uuid.uuid4()
            flights.append({
                "id": flight_id, "flight_number": sector.number, "origin": sector.origin,
                "destination": sector.destination, "departure_at": departure,
                "arrival_at": departure + sector.block, "status": FlightStatus.SCHEDULED,
                "created_at": now, "updated_at": now,
            })
            for cabin_class, seats, fare in (
                (CabinClass.ECONOMY, sector.economy_seats, sector.economy_fare),
                (CabinClass.BUSINESS, sector.business_seats, sector.business_fare),
            ):
                cabins.append({
                    "id": uuid.uuid4(), "flight_id": flight_id, "cabin_class": cabin_class, "capacity": seats,
                    "seats_available": seats, "fare_minor": parse_amount(fare, sector.currency),
                    "currency": sector.currency,
                })
    await repository.insert_flights(session, flights, cabins)
    return len(flights)


async def seed_demo_if_empty(session: AsyncSession, *, days: int = 30) -> int | None:
    """`seed_demo` into a database without flights (what `ais serve` does on start in embedded
    mode); None, touching nothing (not even the airports), when any flight exists."""
    if await repository.any_flight_exists(session):
        return None
    return await seed_demo(session, days=days)
