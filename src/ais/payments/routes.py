"""Paying a booking (passenger) and refunding one (staff)."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request, Response

from ais.audit.service import Actor
from ais.bookings import repository as bookings_repository
from ais.bookings import service as bookings
from ais.db.session import SessionDep
from ais.errors import NotFound, ValidationFailed
from ais.idempotency.dependencies import IdempotencyKey
from ais.idempotency.service import request_hash, run_idempotent
from ais.identity.dependencies import AdminUser, CurrentUser
from ais.maintenance.dependencies import NotDuringMaintenance
from ais.maintenance.openapi import paused_by_maintenance
from ais.money import MoneyError, format_amount, parse_amount
from ais.openapi_errors import responses
from ais.payments import checkout_flow, refund_flow
from ais.payments import repository as payments_repository
from ais.payments.models import Refund
from ais.payments.schemas import CheckoutOut, RefundOut, RefundRequest

router = APIRouter(prefix="/api/v1", tags=["payments"])
admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

@router.post(
    "/bookings/{booking_id}/pay", response_model=CheckoutOut, dependencies=[NotDuringMaintenance],
    responses=paused_by_maintenance(responses(
        "NOT_FOUND", "BOOKING_EXPIRED", "BOOKING_CONFLICT", "INVALID_STATE_TRANSITION", "PAYMENT_FAILED",
        "UNAUTHORIZED", "IDEMPOTENCY_KEY_REQUIRED", "IDEMPOTENCY_IN_PROGRESS", "IDEMPOTENCY_PAYLOAD_MISMATCH")),
)
async def pay(booking_id: str, request: Request, user: CurrentUser, session: SessionDep,
              idempotency_key: IdempotencyKey) -> Response:
    """A Stripe Checkout Session for the booking's total; open `checkoutUrl` to pay. While
    maintenance mode is on: 503 SERVICE_UNAVAILABLE, retryable, with `Retry-After`."""
    runtime = request.app.state.runtime
    actor = Actor.from_request(request, user_id=user.id, role=user.role)

    async def operation() -> tuple[int, CheckoutOut]:
        booking = await bookings.get_booking(session, id_or_reference=booking_id, user_id=user.id)
        return 200, await checkout_flow.start_checkout(session, runtime, booking_id=booking.id, actor=actor)

    return await run_idempotent(
        session, user_id=user.id, scope="bookings.pay", key=idempotency_key,
        fingerprint=request_hash("POST", request.url.path, None), operation=operation,
    )


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
                         session: SessionDep, idempotency_key: IdempotencyKey) -> Response:
    """Refund part (`amount`) or all that is left of a booking's payment; never more than is left.
    A full refund makes the booking `refunded` when the provider confirms it."""
    runtime = request.app.state.runtime
    actor = Actor.from_request(request, user_id=admin.id, role=admin.role)
    fingerprint = request_hash("POST", request.url.path, body)
    # The provider's idempotency key comes from the admin's: a retry of a request that recorded
    # its refund and then died (its answer never stored) finds that refund instead of making
    # a second one.
    refund_key = "admin-refund-" + hashlib.sha256(
        f"{admin.id}\n{idempotency_key}\n{fingerprint}".encode()).hexdigest()[:40]

    async def operation() -> tuple[int, RefundOut]:
        found = await bookings.get_booking(session, id_or_reference=booking_id, user_id=None)
        booking = await bookings_repository.lock_booking(session, found.id)
        if booking is None:
            raise NotFound("No such booking.")
        refund = await payments_repository.refund_by_idempotency_key(session, refund_key)
        if refund is None:
            amount = None
            if body.amount is not None:
                try:
                    amount = parse_amount(body.amount, booking.currency)
                except MoneyError as exc:
                    errors = [{"field": "amount", "message": str(exc)}]
                    raise ValidationFailed(str(exc), details={"errors": errors}) from exc
            refund = await refund_flow.record_refund(session, booking=booking, amount=amount, reason=body.reason,
                                                     actor=actor, idempotency_key=refund_key)
        refund_id = refund.id
        await session.commit()
        submitted = await refund_flow.submit_refund(runtime, refund_id)
        return 201, refund_out(submitted or refund)

    return await run_idempotent(
        session, user_id=admin.id, scope="admin.refunds", key=idempotency_key,
        fingerprint=fingerprint, operation=operation,
    )
