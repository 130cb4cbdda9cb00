"""The passenger cancels a booking: the payments side of cancellation, because a paid booking is
refunded. The seats go back at once; after payment a refund of everything left is recorded and
asked of the provider after the commit (the booking becomes `refunded` when the provider reports
the refund done). Unpaid bookings are cancelled by the bookings side alone."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit.service import Actor
from ais.bookings import service as bookings
from ais.bookings.models import Booking
from ais.bookings.rules import BookingStatus
from ais.payments.refund_flow import record_refund


async def cancel_booking(session: AsyncSession, booking: Booking, *, actor: Actor, reason: str) -> None:
    """Cancel the locked `booking` for its passenger, refunding it in full if it was paid.

    Raises what `bookings.service.check_cancellable` raises (departed, expired, not cancellable),
    and BookingConflict when a paid booking has nothing left to refund."""
    if not bookings.check_cancellable(booking):
        await bookings.cancel_unpaid_booking(session, booking, actor=actor, reason=reason)
        return
    previous = booking.status
    await bookings.transition(session, booking, BookingStatus.CANCELLED, reason=reason, actor=actor)
    refund = await record_refund(session, booking=booking, amount=None, reason=reason, actor=actor,
                                 idempotency_key=f"cancel-{booking.id}")
    await bookings.record_cancellation(
        session, booking, actor=actor, previous=previous,
        refund=bookings.CancellationRefund(id=refund.id, amount_minor=refund.amount_minor, currency=refund.currency))
