"""Payment-side transitions: paid when the money is in the ledger, then ticketed (confirmed).

The invariant lives here: a booking is never confirmed unless the ledger holds a charge
covering its total."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit.service import Actor
from ais.bookings.identifiers import new_ticket_number
from ais.bookings.models import Booking
from ais.bookings.notices import queue_booking_message
from ais.bookings.rules import BookingStatus
from ais.bookings.service import transition


async def mark_paid(session: AsyncSession, booking: Booking, *, actor: Actor, reason: str) -> None:
    """pending → paid; the transition guard refuses it unless the ledger holds the charge."""
    await transition(session, booking, BookingStatus.PAID, reason=reason, actor=actor, expires_at=None)


async def confirm(session: AsyncSession, booking: Booking, *, actor: Actor) -> None:
    """paid → confirmed with an e-ticket number per passenger.

    Ticket numbers are 10 random digits under the airline prefix, unique in the database. A
    collision (about one in ten billion per ticket) fails the whole transaction rather than
    paying a savepoint on every confirmation; the webhook answers 500 and its retry draws anew."""
    await transition(session, booking, BookingStatus.CONFIRMED, reason="tickets issued", actor=actor)
    for passenger in booking.passengers:
        passenger.ticket_number = new_ticket_number()
    await queue_booking_message(session, booking, "booking_confirmed")
