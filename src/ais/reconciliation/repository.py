"""The SQL of reconciliation: which payments to compare with the provider, and what the ledger
already holds for one of them."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ais.bookings.models import Booking
from ais.bookings.rules import BookingStatus
from ais.ledger.models import LedgerEntry, LedgerEntryType
from ais.payments.models import Payment, PaymentStatus
from ais.reconciliation.rules import Candidate, Current, LedgerView

_REFUNDS = (LedgerEntryType.REFUND, LedgerEntryType.PARTIAL_REFUND)


async def candidates(session: AsyncSession, *, since: datetime, booking_ids: Collection[uuid.UUID] | None = None,
                     batch: int = 500) -> list[Candidate]:
    """Pending payments, and payments updated since `since` (captured, failed or refunded lately:
    their refunds or disputes may be missing) — every one of them, oldest first, read in
    keyset batches. A payment that never got a Checkout Session has nothing to compare.
    `booking_ids` narrows it to those bookings' payments."""
    found: list[Candidate] = []
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        statement = (
            select(Payment.id, Payment.booking_id, Booking.reference, Payment.checkout_session_id,
                   Payment.payment_intent_id, Payment.status, Payment.amount_minor, Payment.currency,
                   Booking.status, Payment.created_at)
            .join(Booking, Booking.id == Payment.booking_id)
            .where(or_(Payment.status == PaymentStatus.PENDING, Payment.updated_at >= since))
            .where(Payment.checkout_session_id.is_not(None))
            .order_by(Payment.created_at, Payment.id)
            .limit(batch)
        )
        if booking_ids is not None:
            statement = statement.where(Payment.booking_id.in_(list(booking_ids)))
        if after is not None:
            statement = statement.where(or_(Payment.created_at > after[0],
                                            and_(Payment.created_at == after[0], Payment.id > after[1])))
        rows = (await session.execute(statement)).all()
        found.extend(
            Candidate(payment_id=row[0], booking_id=row[1], booking_reference=row[2], checkout_session_id=str(row[3]),
                      payment_intent_id=row[4], status=PaymentStatus(row[5]), amount_minor=int(row[6]),
                      currency=row[7], booking_status=BookingStatus(row[8]))
            for row in rows
        )
        if len(rows) < batch:
            return found
        after = (rows[-1][9], rows[-1][0])


async def current(session: AsyncSession, payment_id: uuid.UUID) -> Current | None:
    row = (await session.execute(
        select(Payment.status, Payment.payment_intent_id, Booking.status)
        .join(Booking, Booking.id == Payment.booking_id)
        .where(Payment.id == payment_id)
    )).first()
    if row is None:
        return None
    return Current(payment_status=PaymentStatus(row[0]), payment_intent_id=row[1],
                   booking_status=BookingStatus(row[2]))


async def ledger_view(session: AsyncSession, *, booking_id: uuid.UUID, payment_intent_id: str | None,
                      charge_id: str | None, refund_ids: Collection[str]) -> LedgerView:
    charge: tuple[int, str] | None = None
    if payment_intent_id:
        row = (await session.execute(
            select(LedgerEntry.amount_minor, LedgerEntry.currency)
            .where(LedgerEntry.type == LedgerEntryType.CHARGE, LedgerEntry.provider_object_id == payment_intent_id)
        )).first()
        charge = (int(row[0]), str(row[1])) if row is not None else None
    recorded: frozenset[str] = frozenset()
    if refund_ids:
        recorded = frozenset((await session.scalars(
            select(LedgerEntry.provider_object_id)
            .where(LedgerEntry.type.in_(_REFUNDS), LedgerEntry.provider_object_id.in_(list(refund_ids)))
        )).all())
    dispute = False
    if charge_id:
        dispute = await session.scalar(
            select(LedgerEntry.id).where(LedgerEntry.type == LedgerEntryType.DISPUTE,
                                         LedgerEntry.booking_id == booking_id, LedgerEntry.charge_id == charge_id)
            .limit(1)
        ) is not None
    return LedgerView(charge=charge, refund_ids=recorded, dispute_recorded=dispute)
