"""Booking → API shape (SPEC §11 passenger side), times shown with the airports' offsets."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from ais.bookings.models import Booking
from ais.bookings.schemas import BookingOut, PassengerOut, StatusChangeOut
from ais.flights.airports import AirportZones, airport_zones
from ais.flights.models import Flight
from ais.flights.presenters import flight_summary
from ais.money import format_amount


def booking_out(booking: Booking, zones: AirportZones) -> BookingOut:
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


async def local_departure_date(session: AsyncSession, flight: Flight) -> date:
    zones = await airport_zones(session, {flight.origin})
    zone = zones.get(flight.origin)
    return (flight.departure_at.astimezone(zone) if zone else flight.departure_at).date()
