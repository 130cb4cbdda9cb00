"""Paying a booking: a Stripe Checkout Session for exactly the booking's total.

Three short steps, the provider call outside any transaction: (1) under the booking's lock, a
payment attempt is recorded (or the unanswered one reused); commit. (2) The provider is asked,
with an idempotency key derived from booking and attempt, so a retry after a timeout gets the
same session. (3) Only once the provider answered with a session: it is recorded, the booking
moves to `pending` and its hold follows the checkout. A provider that is down or hangs leaves
the booking as it was (`reserved`, history unchanged) and payable: the answer is 503, retry.

A booking cancelled or lapsed while the provider was being asked gets no open checkout: the
session is recorded and closed at the provider at once; if the provider cannot be reached for
that, the lapsed-checkout job closes it (payments/tasks.py), and a payment that still arrives
is a late payment (settlement.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit.service import Actor
from ais.bookings.models import Booking
from ais.bookings.rules import PAYABLE, SOLD, BookingStatus
from ais.bookings.service import lock_own_booking, transition
from ais.db.base import utcnow
from ais.db.unit_of_work import UnitOfWork
from ais.errors import BookingConflict, BookingExpired, InvalidStateTransition, PaymentFailed, ServiceUnavailable
from ais.payments import repository
from ais.payments.gateway import CheckoutSession, ProviderRejected, ProviderUnavailable
from ais.payments.models import Payment, PaymentStatus
from ais.payments.schemas import CheckoutOut
from ais.runtime import Runtime

S = BookingStatus
_log = structlog.get_logger("ais.payments.checkout")
# Stripe accepts a Checkout Session expiry between 30 minutes and 24 hours from now.
PROVIDER_MIN_EXPIRY = timedelta(minutes=31)  # one minute of margin for clock skew and latency
EXPIRY_MARGIN = timedelta(seconds=30)  # of that minute, what a repeated ask may use up
PROVIDER_MAX_EXPIRY = timedelta(hours=23, minutes=59)
# SPEC §4: the hold follows an open checkout, but never past HOLD_MINUTES + this after booking.
HOLD_EXTENSION_LIMIT = timedelta(minutes=30)
# SPEC §4: checkout sessions the provider created for one booking; then it must be rebooked.
MAX_PAYMENT_ATTEMPTS = 3
PROVIDER_RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class _Attempt:
    """What the provider call needs, read under the booking's lock before it was released."""

    booking_id: uuid.UUID
    payment_id: uuid.UUID
    number: int
    amount_minor: int
    currency: str
    reference: str
    contact_email: str
    flight_number: str
    session_expires_at: datetime


async def start_checkout(uow: UnitOfWork, *, booking_ref: str, user_id: uuid.UUID, actor: Actor) -> CheckoutOut:
    """A checkout for the user's booking (by id or record locator; NotFound unless theirs).

    A multi-transaction flow, because the provider must be asked while no transaction holds the
    booking's lock: (1) the attempt is recorded and committed (`uow.commit()`); (2) the provider
    is asked, no transaction open; (3) the session is recorded in the unit of work's next
    transaction, which the caller's unit of work commits (with the idempotent answer). An open
    session of the current attempt is returned again, without asking the provider.

    `expiresAt` of the answer is when the passenger must have paid: the session's expiry, or the
    hold's when that comes first. Raises BookingExpired, BookingConflict (already paid, or
    MAX_PAYMENT_ATTEMPTS sessions created), InvalidStateTransition (cancelled…), ServiceUnavailable
    (provider down or slow: nothing changed, retry), PaymentFailed (the provider refused)."""
    session, runtime = uow.session, uow.runtime
    prepared = await _prepare_attempt(session, booking_ref, user_id)
    if isinstance(prepared, CheckoutOut):
        return prepared
    await uow.commit()  # (1) the attempt stands; the booking's lock is released for the provider call
    checkout = await _create_session(runtime, prepared)  # (2)
    booking = await _record_session(session, prepared, checkout)  # (3)
    now = utcnow()
    if booking.status in PAYABLE and booking.expires_at is not None and booking.expires_at > now:
        return await _hold_for_checkout(session, runtime, booking, checkout, actor)
    # Cancelled or lapsed while the provider was asked: nobody may pay this session.
    await uow.commit()  # the session is known to us (the lapsed-checkout job, reconciliation)
    if await _close_checkout(runtime, checkout.id, booking_id=booking.id):
        await repository.mark_checkouts_failed(session, [checkout.id])
        await uow.commit()  # closed at the provider: no longer payable here either
    _check_payable(booking, now)  # raises what a pay request would now get
    raise BookingExpired()


async def _prepare_attempt(session: AsyncSession, booking_ref: str, user_id: uuid.UUID) -> _Attempt | CheckoutOut:
    """Step 1: the attempt to ask the provider for, or the open checkout to reuse. The booking
    itself is not changed here."""
    now = utcnow()
    booking = await lock_own_booking(session, id_or_reference=booking_ref, user_id=user_id)
    _check_payable(booking, now)
    payment = await repository.latest_payment(session, booking.id)
    if (payment is not None and payment.status == PaymentStatus.PENDING and payment.checkout_session_id
            and payment.checkout_url and payment.expires_at and payment.expires_at > now + timedelta(minutes=1)):
        return CheckoutOut(checkout_url=payment.checkout_url, session_id=payment.checkout_session_id,
                           expires_at=_deadline(payment.expires_at, booking))
    assert booking.expires_at is not None
    session_expires_at = min(max(booking.expires_at, now + PROVIDER_MIN_EXPIRY), now + PROVIDER_MAX_EXPIRY)
    unanswered = payment is not None and payment.status == PaymentStatus.PENDING and not payment.checkout_session_id
    if payment is not None and unanswered:
        # The provider never answered this attempt: ask again with the same idempotency key, so
        # a session it did create meanwhile is the one returned. It does not count again. The
        # same key must carry the same parameters (the provider refuses a key reused with
        # others), so the expiry asked for the first time is asked again, unless it is by now too
        # close for the provider to accept.
        assert payment.expires_at is not None
        if payment.expires_at >= now + PROVIDER_MIN_EXPIRY - EXPIRY_MARGIN:
            session_expires_at = payment.expires_at
        payment.expires_at = session_expires_at
    else:
        # No attempt yet (a booking's first pay, the usual case): nothing to count.
        opened = 0 if payment is None else await repository.checkout_sessions_created(session, booking.id)
        if opened >= MAX_PAYMENT_ATTEMPTS:
            raise BookingConflict(
                f"This booking has had {MAX_PAYMENT_ATTEMPTS} payment attempts; cancel it and book again.",
                details={"maxPaymentAttempts": MAX_PAYMENT_ATTEMPTS, "paymentAttempts": opened},
            )
        payment = Payment(booking_id=booking.id, attempt=(payment.attempt + 1) if payment else 1,
                          amount_minor=booking.total_minor, currency=booking.currency,
                          status=PaymentStatus.PENDING, expires_at=session_expires_at)
        session.add(payment)
    await session.flush()
    return _Attempt(
        booking_id=booking.id, payment_id=payment.id, number=payment.attempt, amount_minor=booking.total_minor,
        currency=booking.currency, reference=booking.reference, contact_email=booking.contact_email,
        flight_number=booking.flight.flight_number, session_expires_at=session_expires_at,
    )


async def _create_session(runtime: Runtime, attempt: _Attempt) -> CheckoutSession:
    """Step 2, no transaction open: the gateway bounds the call (SPEC §10: 503 within 15 s)."""
    base = runtime.settings.public_base_url.rstrip("/")
    booking_id = attempt.booking_id
    try:
        return await runtime.payment_gateway.create_checkout_session(
            booking_id=str(booking_id), payment_id=str(attempt.payment_id), reference=attempt.reference,
            amount_minor=attempt.amount_minor, currency=attempt.currency,
            description=f"Booking {attempt.reference}, flight {attempt.flight_number}",
            customer_email=attempt.contact_email,
            success_url=f"{base}/payments/success?booking={booking_id}&session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{base}/payments/cancelled?booking={booking_id}",
            expires_at=attempt.session_expires_at,
            idempotency_key=f"checkout-{booking_id}-attempt-{attempt.number}",
        )
    except ProviderUnavailable as exc:
        _log.warning("checkout_provider_unavailable", booking_id=str(booking_id), attempt=attempt.number,
                     error=str(exc))
        raise ServiceUnavailable("The payment provider is not answering; retry shortly.",
                                 headers={"Retry-After": str(PROVIDER_RETRY_AFTER_SECONDS)}) from exc
    except ProviderRejected as exc:
        raise PaymentFailed(f"The payment provider refused the checkout: {exc}") from exc


async def _record_session(session: AsyncSession, attempt: _Attempt, checkout: CheckoutSession) -> Booking:
    """Step 3: the provider's session is recorded on the attempt; the booking, locked again, is
    returned as it is now."""
    found = await repository.payment_with_locked_booking(session, payment_id=attempt.payment_id)
    assert found is not None
    payment, booking = found
    payment.checkout_session_id = checkout.id
    payment.checkout_url = checkout.url
    payment.expires_at = checkout.expires_at
    return booking


async def _hold_for_checkout(session: AsyncSession, runtime: Runtime, booking: Booking, checkout: CheckoutSession,
                             actor: Actor) -> CheckoutOut:
    """The booking moves to `pending` and its hold follows the checkout, up to HOLD_MINUTES + 30
    minutes after booking."""
    assert booking.expires_at is not None
    cap = booking.created_at + timedelta(minutes=runtime.settings.hold_minutes) + HOLD_EXTENSION_LIMIT
    hold = max(booking.expires_at, min(checkout.expires_at, cap))
    if booking.status == S.PENDING:  # a new session for a checkout that was about to close
        booking.expires_at = hold
    else:
        await transition(session, booking, S.PENDING, reason="checkout opened", actor=actor, expires_at=hold)
    return CheckoutOut(checkout_url=checkout.url or "", session_id=checkout.id,
                       expires_at=_deadline(checkout.expires_at, booking))


async def _close_checkout(runtime: Runtime, checkout_session_id: str, *, booking_id: uuid.UUID) -> bool:
    """Expire a session nobody may pay any more; True when it is closed at the provider. When the
    provider cannot be reached, the lapsed-checkout job does it later (the payment stays pending
    until then)."""
    try:
        await runtime.payment_gateway.expire_checkout_session(checkout_session_id)
    except ProviderRejected:
        pass  # already complete or expired at the provider: its event (or reconciliation) says which
    except ProviderUnavailable:
        _log.warning("checkout_expiry_deferred", booking_id=str(booking_id), session_id=checkout_session_id)
        return False
    return True


def _deadline(session_expires_at: datetime, booking: Booking) -> datetime:
    """When the passenger must have paid: a session that outlives the hold is closed with it."""
    if booking.expires_at is None:
        return session_expires_at
    return min(session_expires_at, booking.expires_at)


def _check_payable(booking: Booking, now: datetime) -> None:
    if booking.status in SOLD:
        raise BookingConflict("This booking is already paid.", details={"status": booking.status.value})
    if booking.status == S.EXPIRED:
        raise BookingExpired()
    if booking.status not in PAYABLE:
        raise InvalidStateTransition(
            f"A booking that is {booking.status.value} cannot be paid.",
            details={"from": booking.status.value, "to": S.PENDING.value})
    if booking.expires_at is not None and booking.expires_at <= now:
        raise BookingExpired()
