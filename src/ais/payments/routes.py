"""Paying a booking (passenger) and refunding one (staff). Both are idempotent."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from ais.audit.service import Actor
from ais.bookings import service as bookings
from ais.http.dependencies import UnitOfWorkDep
from ais.http.errors import responses
from ais.http.idempotency import IdempotentRequest, idempotent
from ais.identity.dependencies import AdminUser, CurrentUser
from ais.money import format_amount
from ais.payments import checkout_flow, refund_flow
from ais.payments.models import Refund
from ais.payments.schemas import CheckoutOut, RefundOut, RefundRequest

router = APIRouter(prefix="/api/v1", tags=["payments"])
admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

PayIdempotently = Annotated[IdempotentRequest, Depends(idempotent("bookings.pay"))]
RefundIdempotently = Annotated[IdempotentRequest, Depends(idempotent(
    "admin.refunds", body=RefundRequest, caller=AdminUser))]


@router.post(
    "/bookings/{booking_id}/pay", response_model=CheckoutOut,
    responses=responses("NOT_FOUND", "BOOKING_EXPIRED", "BOOKING_CONFLICT", "INVALID_STATE_TRANSITION",
                        "PAYMENT_FAILED", "UNAUTHORIZED", "IDEMPOTENCY_KEY_REQUIRED", "IDEMPOTENCY_IN_PROGRESS",
                        "IDEMPOTENCY_PAYLOAD_MISMATCH"),
)
async def pay(booking_id: str, request: Request, user: CurrentUser, uow: UnitOfWorkDep,
              idem: PayIdempotently) -> Response:
    """A Stripe Checkout Session for the booking's total; open `checkoutUrl` to pay."""
    actor = Actor.from_request(request, user_id=user.id, role=user.role)
    booking = await bookings.get_booking(uow.session, id_or_reference=booking_id, user_id=user.id)
    return await idem.respond(200, await checkout_flow.start_checkout(uow, booking_id=booking.id, actor=actor))


def refund_out(refund: Refund) -> RefundOut:
    return RefundOut(
        id=refund.id, booking_id=refund.booking_id, amount=format_amount(refund.amount_minor, refund.currency),
        currency=refund.currency, reason=refund.reason, status=refund.status.value,
        provider_refund_id=refund.provider_refund_id, created_at=refund.created_at,
    )


@admin_router.post(
    "/bookings/{booking_id}/refunds", status_code=201, response_model=RefundOut,
    responses=responses("NOT_FOUND", "BOOKING_CONFLICT", "UNAUTHORIZED", "FORBIDDEN", "IDEMPOTENCY_KEY_REQUIRED",
                        "IDEMPOTENCY_IN_PROGRESS", "IDEMPOTENCY_PAYLOAD_MISMATCH"),
)
async def refund_booking(booking_id: str, body: RefundRequest, request: Request, admin: AdminUser,
                         uow: UnitOfWorkDep, idem: RefundIdempotently) -> Response:
    """Refund part (`amount`) or all that is left of a booking's payment; never more than is left.
    A full refund makes the booking `refunded` when the provider confirms it."""
    actor = Actor.from_request(request, user_id=admin.id, role=admin.role)
    # The provider's idempotency key comes from the admin's: a retry of a request that recorded
    # its refund and then died (its answer never stored) finds that refund instead of making
    # a second one.
    refund_key = "admin-refund-" + hashlib.sha256(
        f"{admin.id}\n{idem.key}\n{idem.fingerprint}".encode()).hexdigest()[:40]
    refund = await refund_flow.refund_by_staff(uow, booking_ref=booking_id, amount=body.amount, reason=body.reason,
                                               actor=actor, refund_key=refund_key)
    return await idem.respond(201, refund_out(refund))
