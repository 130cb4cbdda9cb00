"""Booking → API shape (SPEC §11 passenger side), times shown with the airports' offsets."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ais.bookings.models import Booking
from ais.bookings.schemas import BookingOut, FlightSummary, PassengerOut, StatusChangeOut
from ais.flights.models import Airport, Flight
from ais.money import format_amount

# Airports are reference data that never change time zone; remember them per process.
_ZONES: dict[str, ZoneInfo] = {}


async def airport_zones(session: AsyncSession, codes: set[str]) -> dict[str, ZoneInfo]:
    missing = codes - _ZONES.keys()
    if missing:
        rows = await session.execute(select(Airport.code, Airport.timezone).where(Airport.code.in_(missing)))
        for code, zone in rows:
            _ZONES[code] = ZoneInfo(zone)
    return {code: _ZONES[code] for code in codes if code in _ZONES}


def _local(moment: datetime, zone: ZoneInfo | None) -> str:
    return (moment.astimezone(zone) if zone else moment).isoformat()


def flight_summary(flight: Flight, zones: dict[str, ZoneInfo]) -> FlightSummary:
    return FlightSummary(
        flight_number=flight.flight_number,
        from_=flight.origin,
        to=flight.destination,
        departure_time=_local(flight.departure_at, zones.get(flight.origin)),
        arrival_time=_local(flight.arrival_at, zones.get(flight.destination)),
    )


def booking_out(booking: Booking, zones: dict[str, ZoneInfo]) -> BookingOut:
    return BookingOut(
        id=booking.id,
        reference=booking.reference,
        status=booking.status,
        flight_id=booking.flight_id,
        flight=flight_summary(booking.flight, zones),
        cabin=booking.cabin_class,
        passengers=[PassengerOut.model_validate(p) for p in booking.passengers],
        contact_email=booking.contact_email,
        total_amount=format_amount(booking.total_minor, booking.currency),
        currency=booking.currency,
        expires_at=booking.expires_at,
        created_at=booking.created_at,
        status_history=[
            StatusChangeOut(from_=h.from_status, to=h.to_status, reason=h.reason, at=h.at)
            for h in sorted(booking.history, key=lambda change: change.at)
        ],
    )


async def present(session: AsyncSession, booking: Booking) -> BookingOut:
    zones = await airport_zones(session, {booking.flight.origin, booking.flight.destination})
    return booking_out(booking, zones)


async def present_many(session: AsyncSession, bookings: list[Booking]) -> list[BookingOut]:
    codes = {code for b in bookings for code in (b.flight.origin, b.flight.destination)}
    zones = await airport_zones(session, codes)
    return [booking_out(b, zones) for b in bookings]


async def local_departure_date(session: AsyncSession, flight: Flight):  # type: ignore[no-untyped-def]
    zones = await airport_zones(session, {flight.origin})
    zone = zones.get(flight.origin)
    return (flight.departure_at.astimezone(zone) if zone else flight.departure_at).date()
