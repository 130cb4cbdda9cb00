"""The passenger e-mails about a booking: the bookings side turns a booking into a plain
`BookingNotice` (times as each airport's clock reads) and hands it to the outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ais.bookings.models import Booking
from ais.flights.airports import airport_zones
from ais.flights.presenters import wall_clock
from ais.money import format_amount
from ais.notifications import service as notifications
from ais.notifications.notice import BookingNotice


async def booking_notice(session: AsyncSession, booking: Booking, kind: str, *, dedupe: str = "",
                         **context: Any) -> BookingNotice:
    """The `kind` notice about `booking` (its flight and passengers loaded)."""
    flight = booking.flight
    zones = await airport_zones(session, {flight.origin, flight.destination})
    return BookingNotice(
        kind=kind, booking_id=booking.id, user_id=booking.user_id, recipient=booking.contact_email,
        reference=booking.reference, flight_number=flight.flight_number, origin=flight.origin,
        destination=flight.destination, departure=wall_clock(flight.departure_at, flight.origin, zones),
        arrival=wall_clock(flight.arrival_at, flight.destination, zones),
        total=format_amount(booking.total_minor, booking.currency), currency=booking.currency,
        passengers=tuple((p.first_name, p.last_name, p.ticket_number) for p in booking.passengers),
        context=context, dedupe=dedupe,
    )


async def queue_booking_message(session: AsyncSession, booking: Booking, kind: str, *, dedupe: str = "",
                                **context: Any) -> None:
    """Queue the `kind` e-mail about `booking` to its contact address, in the caller's transaction,
    once per (kind, booking, dedupe); beyond the caps it is dropped (`ais.notifications.caps`)."""
    await notifications.queue(session, await booking_notice(session, booking, kind, dedupe=dedupe, **context))
