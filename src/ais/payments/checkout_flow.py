"""Paying a booking: a Stripe Checkout Session for exactly the booking's total.

Three short steps, the provider call outside any transaction: (1) the booking moves to
`pending` and a payment attempt is recorded; commit. (2) The provider is asked, with an
idempotency key derived from booking and attempt, so a retry after a timeout gets the same
session. (3) The session is recorded on the attempt."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit.service import Actor
from ais.bookings import repository as bookings_repository
from ais.bookings.models import Booking
from ais.bookings.rules import BookingStatus
from ais.bookings.service import transition
from ais.db.base import utcnow
from ais.errors import BookingConflict, BookingExpired, InvalidStateTransition, PaymentFailed, ServiceUnavailable
from ais.payments import repository
from ais.payments.gateway import ProviderRejected, ProviderUnavailable
from ais.payments.models import Payment, PaymentStatus
from ais.payments.schemas import CheckoutOut
from ais.runtime import Runtime

S = BookingStatus
# Stripe accepts a Checkout Session expiry between 30 minutes and 24 hours from now.
PROVIDER_MIN_EXPIRY = timedelta(minutes=31)  # one minute of margin for clock skew and latency
PROVIDER_MAX_EXPIRY = timedelta(hours=23, minutes=59)
_PAID = frozenset({S.PAID, S.CONFIRMED, S.CHECKED_IN, S.BOARDED, S.COMPLETED, S.NO_SHOW})


async def start_checkout(session: AsyncSession, runtime: Runtime, *, booking_id: uuid.UUID,
                         actor: Actor) -> CheckoutOut:
    """A checkout for the booking (which the caller has checked the user may pay).

    An open session of the current attempt is returned again. The seat hold is extended to the
    session's expiry when the provider's 30-minute minimum outlasts it: the seats stay held for
    as long as the passenger can pay. Raises BookingExpired, BookingConflict (already paid),
    InvalidStateTransition (cancelled…), ServiceUnavailable (provider down; retry)."""
    now = utcnow()
    booking = await bookings_repository.lock_booking(session, booking_id)
    assert booking is not None
    _check_payable(booking, now)
    payment = await repository.latest_payment(session, booking.id)
    if (payment is not None and payment.status == PaymentStatus.PENDING and payment.checkout_session_id
            and payment.checkout_url and payment.expires_at and payment.expires_at > now + timedelta(minutes=1)):
        reuse = CheckoutOut(checkout_url=payment.checkout_url, session_id=payment.checkout_session_id,
                            expires_at=payment.expires_at)
        await session.rollback()  # release the booking lock; nothing changed
        return reuse
    assert booking.expires_at is not None
    expires_at = min(max(booking.expires_at, now + PROVIDER_MIN_EXPIRY), now + PROVIDER_MAX_EXPIRY)
    if payment is None or payment.checkout_session_id or payment.status != PaymentStatus.PENDING:
        payment = Payment(booking_id=booking.id, attempt=(payment.attempt + 1) if payment else 1,
                          amount_minor=booking.total_minor, currency=booking.currency,
                          status=PaymentStatus.PENDING, expires_at=expires_at)
        session.add(payment)
    else:  # an attempt whose provider call never answered: same attempt, same idempotency key
        payment.expires_at = expires_at
    if booking.status != S.PENDING:
        await transition(session, booking, S.PENDING, reason="checkout opened", actor=actor, expires_at=expires_at)
    elif booking.expires_at < expires_at:
        booking.expires_at = expires_at
    await session.flush()
    payment_id, attempt = payment.id, payment.attempt
    amount, currency, reference = booking.total_minor, booking.currency, booking.reference
    email, flight_number = booking.contact_email, booking.flight.flight_number
    await session.commit()

    base = runtime.settings.public_base_url.rstrip("/")
    try:
        checkout = await runtime.payment_gateway.create_checkout_session(
            booking_id=str(booking_id), payment_id=str(payment_id), reference=reference, amount_minor=amount,
            currency=currency, description=f"Booking {reference}, flight {flight_number}", customer_email=email,
            success_url=f"{base}/payments/success?booking={booking_id}&session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{base}/payments/cancelled?booking={booking_id}",
            expires_at=expires_at, idempotency_key=f"checkout-{booking_id}-attempt-{attempt}",
        )
    except ProviderUnavailable as exc:
        raise ServiceUnavailable("The payment provider is not answering; retry shortly.") from exc
    except ProviderRejected as exc:
        raise PaymentFailed(f"The payment provider refused the checkout: {exc}") from exc

    payment = await repository.payment_by_id(session, payment_id)
    assert payment is not None
    payment.checkout_session_id = checkout.id
    payment.checkout_url = checkout.url
    payment.expires_at = checkout.expires_at
    return CheckoutOut(checkout_url=checkout.url or "", session_id=checkout.id, expires_at=checkout.expires_at)


def _check_payable(booking: Booking, now) -> None:  # type: ignore[no-untyped-def]
    if booking.status in _PAID:
        raise BookingConflict("This booking is already paid.", details={"status": booking.status.value})
    if booking.status == S.EXPIRED or (booking.expires_at is not None and booking.expires_at <= now):
        raise BookingExpired()
    if booking.status not in (S.RESERVED, S.PENDING, S.PAYMENT_FAILED):
        raise InvalidStateTransition(
            f"A booking that is {booking.status.value} cannot be paid.",
            details={"from": booking.status.value, "to": S.PENDING.value})
