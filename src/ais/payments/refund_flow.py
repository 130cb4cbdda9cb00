"""Refunds: recorded in our database first, then asked of the provider outside any transaction,
with an idempotency key fixed at recording time, so a retry after a crash or a timeout can never
refund twice. The ledger entry and the booking's `refunded` status come with the provider's
`charge.refunded` event (or reconciliation), never from the request itself."""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit import service as audit
from ais.audit.service import Actor
from ais.bookings.models import Booking
from ais.db.base import utcnow
from ais.errors import BookingConflict, ValidationFailed
from ais.ledger import repository as ledger
from ais.payments import repository
from ais.payments.gateway import ProviderRejected, ProviderUnavailable
from ais.payments.models import Refund, RefundStatus
from ais.runtime import Runtime

_log = structlog.get_logger("ais.payments.refunds")
_PENDING_MARK = "ais.refunds_pending"


def mark_refunds_pending(session: AsyncSession) -> None:
    """Note that this transaction recorded refunds the provider must be asked for after commit."""
    session.info[_PENDING_MARK] = True


def refunds_were_recorded(session: AsyncSession) -> bool:
    return bool(session.info.pop(_PENDING_MARK, False))


async def record_refund(session: AsyncSession, *, booking: Booking, amount: int | None, reason: str,
                        actor: Actor, idempotency_key: str | None = None) -> Refund:
    """Record a refund of `amount` (all that is left when None) of the booking's captured money.

    The booking must be locked by the caller. Raises BookingConflict when nothing was paid or
    nothing is left, ValidationFailed when `amount` is more than what is left."""
    # The payment that still holds money: not necessarily the latest attempt (an older tab may
    # have paid, and a double charge is refunded on its own PaymentIntent).
    payment, left = None, 0
    for candidate in await repository.captured_payments(session, booking.id):
        assert candidate.payment_intent_id is not None
        captured = await ledger.charged(session, booking.id, payment_intent_id=candidate.payment_intent_id)
        if captured <= 0:
            continue
        remaining = captured - await repository.refunded_or_requested(session, booking.id, payment_id=candidate.id)
        if payment is None or remaining > left:
            payment, left = candidate, remaining
    if payment is None:
        raise BookingConflict("This booking has no captured payment to refund.")
    if left <= 0:
        raise BookingConflict("Everything paid for this booking has been refunded already.",
                              details={"refundable": "0"})
    amount = left if amount is None else amount
    if amount <= 0 or amount > left:
        from ais.money import format_amount

        raise ValidationFailed(
            "The refund amount must be more than zero and at most what is left.",
            details={"errors": [{"field": "amount", "message": f"at most {format_amount(left, booking.currency)}"}],
                     "refundable": format_amount(left, booking.currency)},
        )
    refund_id = uuid.uuid4()
    refund = Refund(
        id=refund_id, booking_id=booking.id, payment_id=payment.id, amount_minor=amount,
        currency=booking.currency, reason=reason[:200], status=RefundStatus.PENDING, requested_by=actor.label,
        idempotency_key=idempotency_key or f"refund-{refund_id}",
    )
    session.add(refund)
    audit.record(session, actor, action="refund.requested", resource_type="booking", resource_id=str(booking.id),
                 changes={"refundId": str(refund.id), "amount": amount, "currency": booking.currency,
                          "reason": reason[:200]})
    mark_refunds_pending(session)
    return refund


async def submit_refund(runtime: Runtime, refund_id: uuid.UUID) -> Refund | None:
    """Ask the provider for a recorded refund. Provider unreachable: it stays pending and the
    periodic job asks again with the same idempotency key."""
    async with runtime.session_factory() as session:
        refund = await repository.refund_by_id(session, refund_id)
        if refund is None or refund.status != RefundStatus.PENDING:
            return refund
        payment = await repository.payment_by_id(session, refund.payment_id)
        assert payment is not None and payment.payment_intent_id
        intent_id, amount, key = payment.payment_intent_id, refund.amount_minor, refund.idempotency_key
        reason, booking_id = refund.reason, refund.booking_id
        await session.rollback()
    try:
        provider_refund = await runtime.payment_gateway.create_refund(
            payment_intent_id=intent_id, amount_minor=amount, reason=reason, idempotency_key=key,
            metadata={"bookingId": str(booking_id), "refundId": str(refund_id)},
        )
    except ProviderUnavailable as exc:
        _log.warning("refund_provider_unavailable", refund_id=str(refund_id), error=str(exc))
        return None
    except ProviderRejected as exc:
        _log.error("refund_rejected", refund_id=str(refund_id), error=str(exc), code=exc.code)
        async with runtime.session_factory() as session:
            refund = await repository.refund_by_id(session, refund_id)
            if refund is not None and refund.status == RefundStatus.PENDING:
                refund.status = RefundStatus.FAILED
                refund.failure_reason = str(exc)[:2000]
                await session.commit()
            return refund
    async with runtime.session_factory() as session:
        refund = await repository.refund_by_id(session, refund_id)
        if refund is not None and refund.status == RefundStatus.PENDING:
            refund.provider_refund_id = provider_refund.id
            refund.status = RefundStatus.REQUESTED
            refund.updated_at = utcnow()
            await session.commit()
        return refund


async def submit_pending_refunds(runtime: Runtime, session: AsyncSession | None = None) -> int:
    """Submit every pending refund (after a commit that recorded some, and periodically)."""
    if session is not None and not refunds_were_recorded(session):
        return 0
    async with runtime.session_factory() as reader:
        ids = await repository.pending_refund_ids(reader)
    done = 0
    for refund_id in ids:
        refund = await submit_refund(runtime, refund_id)
        done += refund is not None and refund.status != RefundStatus.PENDING
    return done


async def retry_pending_refunds(runtime: Runtime) -> int:
    """The periodic job's entry point."""
    return await submit_pending_refunds(runtime)
