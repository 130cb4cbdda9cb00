"""What a money movement reported by the provider does to the ledger, the payment and the booking.

Every function runs inside the caller's transaction (a webhook, a replay or reconciliation) and
is idempotent: ledger rows are unique per (type, provider object id) and bookings move through
the one transition guard, so the same fact applied twice, or facts in any order, end in the same
state. None of them calls the provider: what they need was read before the transaction."""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit import service as audit
from ais.audit.service import Actor
from ais.bookings import repository as bookings_repository
from ais.bookings import ticketing
from ais.bookings.models import Booking
from ais.bookings.notices import queue_booking_message
from ais.bookings.rules import NO_CHECKOUT_OPEN, PAST_PAYMENT, REFUND_COMPLETES, BookingStatus
from ais.bookings.service import transition
from ais.cache.search_cache import invalidate_after_commit
from ais.db.base import utcnow
from ais.ledger import service as ledger
from ais.ledger.models import LedgerEntryType
from ais.money import format_amount
from ais.payments import repository
from ais.payments.gateway import ProviderRefund
from ais.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from ais.payments.refund_flow import submit_after_commit

_log = structlog.get_logger("ais.payments")
S = BookingStatus


async def record_capture(session: AsyncSession, *, booking: Booking, payment: Payment, payment_intent_id: str,
                         charge_id: str | None, amount: int, currency: str, event_id: str | None,
                         actor: Actor) -> None:
    """Money was captured for `payment`: ledger charge (once per PaymentIntent), then the booking
    is paid and ticketed — or, when it can no longer fly on this money, refunded automatically."""
    written = await ledger.record_entry(
        session, type=LedgerEntryType.CHARGE, booking_id=booking.id, amount_minor=amount, currency=currency,
        provider_object_id=payment_intent_id, payment_intent_id=payment_intent_id, charge_id=charge_id,
        event_id=event_id,
    )
    payment.payment_intent_id = payment.payment_intent_id or payment_intent_id
    payment.charge_id = payment.charge_id or charge_id
    if payment.status in (PaymentStatus.PENDING, PaymentStatus.FAILED):
        payment.status = PaymentStatus.SUCCEEDED
    if not written:
        # Another event about the same money applied it already (in the same transaction as
        # the ledger row): what it decided stands. Deciding again could, say, re-take seats
        # for a late payment that was refunded because they were gone.
        return
    if amount < booking.total_minor or currency != booking.currency:
        _log.error("capture_does_not_cover_booking", booking_id=str(booking.id), amount=amount, currency=currency)
        await _refund_automatically(session, booking, payment, amount, "captured amount does not match the booking",
                                    actor)
        return
    status = booking.status
    if status in NO_CHECKOUT_OPEN:
        await transition(session, booking, S.PENDING, reason="payment in progress", actor=actor)
        status = booking.status
    if status == S.PENDING:
        await ticketing.mark_paid(session, booking, actor=actor, reason="payment succeeded")
        await ticketing.confirm(session, booking, actor=actor)
    elif status == S.PAID:
        await ticketing.confirm(session, booking, actor=actor)
    elif status == S.EXPIRED:
        await _late_payment(session, booking, payment, amount, actor)
    elif await _is_second_payment(session, booking, payment):
        await _refund_automatically(session, booking, payment, amount, "booking was already paid", actor)
    elif status == S.CANCELLED and not await _paid_before(session, booking, payment):
        await _refund_automatically(session, booking, payment, amount, "booking was cancelled before payment",
                                    actor)


async def _late_payment(session: AsyncSession, booking: Booking, payment: Payment, amount: int,
                        actor: Actor) -> None:
    """SPEC §4: money after the hold lapsed. Take the seats again if they are still free and
    confirm; otherwise refund it all, record it, and tell the passenger."""
    left = await bookings_repository.take_seats(session, booking.cabin_id, booking.seat_count)
    if left is None:
        await _refund_automatically(session, booking, payment, amount, "paid after the hold expired; sold out",
                                    actor)
        return
    if left == 0:
        invalidate_after_commit(session)
    await transition(session, booking, S.PAID, reason="late payment: seats taken again", actor=actor,
                     late_payment=True, expires_at=None)
    await ticketing.confirm(session, booking, actor=actor)
    audit.record(session, actor, action="booking.late_payment_confirmed", resource_type="booking",
                 resource_id=str(booking.id), changes={"seats": booking.seat_count})


async def _is_second_payment(session: AsyncSession, booking: Booking, payment: Payment) -> bool:
    """Another PaymentIntent already paid this booking: this capture is a double charge."""
    charged = await ledger.charged(session, booking.id)
    return booking.status in PAST_PAYMENT and charged > booking.total_minor


async def _paid_before(session: AsyncSession, booking: Booking, payment: Payment) -> bool:
    """Was this booking ever paid (so a cancellation of it started a refund)?"""
    await session.flush()
    fresh = await bookings_repository.booking_with_details(session, booking.id)
    return fresh is not None and any(change.to_status == S.PAID for change in fresh.history)


async def _refund_automatically(session: AsyncSession, booking: Booking, payment: Payment, amount: int,
                                reason: str, actor: Actor) -> None:
    key = f"auto-refund-{payment.payment_intent_id}"
    if await repository.refund_by_idempotency_key(session, key) is not None:
        return
    if booking.status == S.EXPIRED:  # a late payment for seats that are gone: tell the passenger
        await queue_booking_message(session, booking, "late_payment_refunded", dedupe=key,
                                    refund_amount=format_amount(amount, payment.currency))
    session.add(Refund(
        booking_id=booking.id, payment_id=payment.id, amount_minor=amount, currency=payment.currency,
        reason=reason, status=RefundStatus.PENDING, requested_by=actor.label, idempotency_key=key,
    ))
    submit_after_commit(session)
    audit.record(session, actor, action="refund.automatic", resource_type="booking", resource_id=str(booking.id),
                 changes={"amount": amount, "currency": payment.currency, "reason": reason})
    _log.warning("automatic_refund", booking_id=str(booking.id), reason=reason)


async def record_failure(session: AsyncSession, *, booking: Booking, payment: Payment, reason: str,
                         actor: Actor) -> None:
    """The attempt failed (declined, async debit failed, checkout expired). The hold stands, so
    the passenger may pay again until it lapses."""
    if payment.status == PaymentStatus.PENDING:
        payment.status = PaymentStatus.FAILED
    latest = await repository.latest_payment(session, booking.id)
    if booking.status == S.PENDING and (latest is None or latest.id == payment.id):
        # Only the current attempt's failure says the booking's checkout failed: an older tab
        # declined again (or its session expiring) leaves the newer, open checkout alone.
        await transition(session, booking, S.PAYMENT_FAILED, reason=reason, actor=actor)


async def record_refunds(session: AsyncSession, *, booking: Booking, payment: Payment, charge_amount: int,
                         refunds: list[ProviderRefund], event_id: str | None, actor: Actor) -> None:
    """The provider's refunds of this payment: a ledger entry per succeeded refund, our refund rows
    brought up to date, and the booking refunded once all captured money went back."""
    for refund in refunds:
        if refund.status != "succeeded":
            continue
        kind = LedgerEntryType.REFUND if refund.amount >= charge_amount else LedgerEntryType.PARTIAL_REFUND
        written = await ledger.record_entry(
            session, type=kind, booking_id=booking.id, amount_minor=refund.amount, currency=refund.currency,
            provider_object_id=refund.id, payment_intent_id=refund.payment_intent_id, charge_id=refund.charge_id,
            refund_id=refund.id, event_id=event_id,
        )
        await _settle_refund_row(session, booking, payment, refund)
        if written:
            await queue_booking_message(session, booking, "refund_completed", dedupe=refund.id,
                                        refund_amount=format_amount(refund.amount, refund.currency))
    refunded = await ledger.refunded(session, booking.id, payment_intent_id=payment.payment_intent_id)
    if refunded <= 0:
        return
    payment.status = PaymentStatus.REFUNDED if refunded >= charge_amount else PaymentStatus.PARTIALLY_REFUNDED
    # The booking is refunded once every charge on it went back (a refunded double charge leaves
    # the paying charge in place) and only if it had been paid at all.
    all_back = await ledger.refunded(session, booking.id) >= await ledger.charged(session, booking.id)
    if all_back and booking.status in REFUND_COMPLETES and await _paid_before(
            session, booking, payment):
        await transition(session, booking, S.REFUNDED, reason="refund completed", actor=actor)


async def _settle_refund_row(session: AsyncSession, booking: Booking, payment: Payment,
                             refund: ProviderRefund) -> None:
    row = await repository.refund_by_provider_id(session, refund.id)
    if row is None and refund.metadata.get("refundId"):
        try:
            row = await repository.refund_by_id(session, uuid.UUID(refund.metadata["refundId"]))
        except ValueError:
            row = None
    if row is None:  # made outside AIS (e.g. in the provider's dashboard): keep a record of it
        session.add(Refund(
            booking_id=booking.id, payment_id=payment.id, amount_minor=refund.amount, currency=refund.currency,
            reason="refunded at the provider", provider_refund_id=refund.id, status=RefundStatus.SUCCEEDED,
            requested_by="provider", idempotency_key=f"provider-{refund.id}",
        ))
        return
    row.provider_refund_id = row.provider_refund_id or refund.id
    row.status = RefundStatus.SUCCEEDED
    row.updated_at = utcnow()


async def record_dispute(session: AsyncSession, *, booking: Booking, dispute_id: str, amount: int,
                         currency: str, charge_id: str | None, payment_intent_id: str | None,
                         status: str, event_id: str | None, actor: Actor) -> None:
    """A chargeback: the money left with the dispute; it comes back (dispute_reversal) if won."""
    written = await ledger.record_entry(
        session, type=LedgerEntryType.DISPUTE, booking_id=booking.id, amount_minor=amount, currency=currency,
        provider_object_id=dispute_id, dispute_id=dispute_id, charge_id=charge_id,
        payment_intent_id=payment_intent_id, event_id=event_id,
    )
    if written:
        audit.record(session, actor, action="dispute.opened", resource_type="booking", resource_id=str(booking.id),
                     changes={"disputeId": dispute_id, "amount": amount, "currency": currency})
    if status == "won":
        reversed_now = await ledger.record_entry(
            session, type=LedgerEntryType.DISPUTE_REVERSAL, booking_id=booking.id, amount_minor=amount,
            currency=currency, provider_object_id=dispute_id, dispute_id=dispute_id, charge_id=charge_id,
            payment_intent_id=payment_intent_id, event_id=event_id,
        )
        if reversed_now:
            audit.record(session, actor, action="dispute.won", resource_type="booking", resource_id=str(booking.id),
                         changes={"disputeId": dispute_id, "amount": amount})
    elif status == "lost":
        audit.record(session, actor, action="dispute.lost", resource_type="booking", resource_id=str(booking.id),
                     changes={"disputeId": dispute_id, "amount": amount})
