"""Refunds: recorded in our database first, then asked of the provider outside any transaction,
with an idempotency key fixed at recording time, so a retry after a crash or a timeout can never
refund twice. The ledger entry and the booking's `refunded` status come with the provider's
`charge.refunded` event (or reconciliation), never from the request itself.

Recording a refund registers an after-commit hook that asks the provider for every pending refund
once the recording transaction has committed; the periodic job (`retry_pending_refunds`) asks
again for any the provider did not accept (down, or the process died first)."""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit import service as audit
from ais.audit.service import Actor
from ais.bookings import repository as bookings_repository
from ais.bookings import service as bookings
from ais.bookings.models import Booking
from ais.db.base import utcnow
from ais.db.unit_of_work import UnitOfWork, after_commit
from ais.errors import BookingConflict, NotFound, ValidationFailed
from ais.ledger import service as ledger
from ais.money import MoneyError, format_amount, parse_amount
from ais.payments import repository
from ais.payments.gateway import ProviderRejected, ProviderUnavailable
from ais.payments.models import Refund, RefundStatus
from ais.runtime import Runtime

_log = structlog.get_logger("ais.payments.refunds")
_SUBMIT_HOOK = "payments.submit_pending_refunds"


def submit_after_commit(session: AsyncSession) -> None:
    """Ask the provider for the pending refunds once this transaction has committed (one run per
    commit, however many refunds it recorded)."""
    after_commit(session, _submit_pending_hook, key=_SUBMIT_HOOK)


async def _submit_pending_hook(runtime: Runtime) -> None:
    await submit_pending_refunds(runtime)


async def record_refund(session: AsyncSession, *, booking: Booking, amount: int | None, reason: str,
                        actor: Actor, idempotency_key: str | None = None, submit: bool = True) -> Refund:
    """Record a refund of `amount` (all that is left when None) of the booking's captured money;
    with `submit`, the provider is asked for it after the commit.

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
    if submit:
        submit_after_commit(session)
    return refund


async def refund_by_staff(uow: UnitOfWork, *, booking_ref: str, amount: str | None, reason: str, actor: Actor,
                          refund_key: str) -> Refund:
    """Staff refund part (`amount`, a decimal string) or all that is left of a booking's payment.

    A two-transaction flow: the refund is recorded and committed (`uow.commit()`), then the
    provider is asked with no transaction open, and the answer is the refund as it then stands
    (requested, or still pending when the provider is down: the job asks again). `refund_key`
    (derived from the staff member's Idempotency-Key) is the provider's idempotency key too: a
    retry of a request that recorded its refund and then died finds that refund instead of
    making a second one. Raises NotFound, BookingConflict, ValidationFailed."""
    session = uow.session
    found = await bookings.get_booking(session, id_or_reference=booking_ref, user_id=None)
    booking = await bookings_repository.lock_booking(session, found.id)
    if booking is None:
        raise NotFound("No such booking.")
    refund = await repository.refund_by_idempotency_key(session, refund_key)
    if refund is None:
        minor = None
        if amount is not None:
            try:
                minor = parse_amount(amount, booking.currency)
            except MoneyError as exc:
                raise ValidationFailed(str(exc), details={"errors": [{"field": "amount", "message": str(exc)}]}) \
                    from exc
        refund = await record_refund(session, booking=booking, amount=minor, reason=reason, actor=actor,
                                     idempotency_key=refund_key, submit=False)
    refund_id = refund.id
    await uow.commit()
    submitted = await submit_refund(uow.runtime, refund_id)
    return submitted or refund


async def submit_refund(runtime: Runtime, refund_id: uuid.UUID) -> Refund | None:
    """Ask the provider for a recorded refund, in three short transactions around the provider
    call. Provider unreachable: it stays pending and the periodic job asks again with the same
    idempotency key."""
    async with UnitOfWork(runtime) as uow:
        refund = await repository.refund_by_id(uow.session, refund_id)
        if refund is None or refund.status != RefundStatus.PENDING:
            return refund
        payment = await repository.payment_by_id(uow.session, refund.payment_id)
        assert payment is not None and payment.payment_intent_id
        intent_id, amount, key = payment.payment_intent_id, refund.amount_minor, refund.idempotency_key
        reason, booking_id = refund.reason, refund.booking_id
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
        async with UnitOfWork(runtime) as uow:
            refund = await repository.refund_by_id(uow.session, refund_id)
            if refund is not None and refund.status == RefundStatus.PENDING:
                refund.status = RefundStatus.FAILED
                refund.failure_reason = str(exc)[:2000]
            return refund
    async with UnitOfWork(runtime) as uow:
        refund = await repository.refund_by_id(uow.session, refund_id)
        if refund is not None and refund.status == RefundStatus.PENDING:
            refund.provider_refund_id = provider_refund.id
            refund.status = RefundStatus.REQUESTED
            refund.updated_at = utcnow()
        return refund


async def submit_pending_refunds(runtime: Runtime) -> int:
    """Submit every pending refund (after a commit that recorded some, and periodically)."""
    async with UnitOfWork(runtime) as uow:
        ids = await repository.pending_refund_ids(uow.session)
    done = 0
    for refund_id in ids:
        refund = await submit_refund(runtime, refund_id)
        done += refund is not None and refund.status != RefundStatus.PENDING
    return done


async def retry_pending_refunds(runtime: Runtime) -> int:
    """The periodic job's entry point."""
    return await submit_pending_refunds(runtime)
