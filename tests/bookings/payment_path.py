"""Moving a booking through payment at the service level, as the payments module will:
a ledger charge first, then reserved → pending → paid → confirmed. Tests of check-in and the
state machine need confirmed bookings before the Stripe path exists; this is that path minus
Stripe, through the same guard and the same ledger invariant."""

from __future__ import annotations

import uuid

from ais.audit.service import Actor
from ais.bookings import repository, ticketing
from ais.bookings.rules import BookingStatus
from ais.bookings.service import transition
from ais.db.unit_of_work import UnitOfWork
from ais.ledger import repository as ledger
from ais.ledger.models import LedgerEntryType
from ais.runtime import Runtime

SYSTEM = Actor.system("test_payment")


async def pay_and_confirm(runtime: Runtime, booking_id: str | uuid.UUID) -> None:
    async with UnitOfWork(runtime) as uow:  # its e-mail's job is deferred after the commit
        session = uow.session
        booking = await repository.booking_with_details(session, uuid.UUID(str(booking_id)))
        assert booking is not None
        await transition(session, booking, BookingStatus.PENDING, reason="checkout opened", actor=SYSTEM)
        charge_id = f"ch_test_{uuid.uuid4().hex[:16]}"
        await ledger.record_entry(session, type=LedgerEntryType.CHARGE, booking_id=booking.id,
                                  amount_minor=booking.total_minor, currency=booking.currency,
                                  provider_object_id=charge_id, charge_id=charge_id)
        await ticketing.mark_paid(session, booking, actor=SYSTEM, reason="payment succeeded")
        await ticketing.confirm(session, booking, actor=SYSTEM)
