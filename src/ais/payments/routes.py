"""Paying a booking (passenger) and refunding one (staff), both idempotent; and the endpoint
Stripe delivers its events to (`POST /webhooks/stripe`, in front of the inbox)."""

from __future__ import annotations

import hashlib
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from ais.audit.service import Actor
from ais.errors import InvalidSignature
from ais.http.dependencies import RuntimeDep, UnitOfWorkDep
from ais.http.errors import error_response, responses
from ais.http.idempotency import IdempotentRequest, idempotent
from ais.identity.dependencies import AdminUser, CurrentUser
from ais.maintenance.dependencies import NotDuringMaintenance
from ais.maintenance.openapi import paused_by_maintenance
from ais.money import format_amount
from ais.ops.metrics import WEBHOOK_EVENTS
from ais.payments import checkout_flow, refund_flow, webhooks
from ais.payments.models import Refund
from ais.payments.schemas import CheckoutOut, RefundOut, RefundRequest

router = APIRouter(prefix="/api/v1", tags=["payments"])
admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
webhook_router = APIRouter(tags=["webhooks"])
MAX_WEBHOOK_BYTES = 512 * 1024

_log = structlog.get_logger("ais.payments.webhooks")
PayIdempotently = Annotated[IdempotentRequest, Depends(idempotent("bookings.pay"))]
RefundIdempotently = Annotated[IdempotentRequest, Depends(idempotent(
    "admin.refunds", body=RefundRequest, caller=AdminUser))]


@router.post(
    "/bookings/{booking_id}/pay", response_model=CheckoutOut, dependencies=[NotDuringMaintenance],
    responses=paused_by_maintenance(responses(
        "NOT_FOUND", "BOOKING_EXPIRED", "BOOKING_CONFLICT", "INVALID_STATE_TRANSITION", "PAYMENT_FAILED",
        "UNAUTHORIZED", "IDEMPOTENCY_KEY_REQUIRED", "IDEMPOTENCY_IN_PROGRESS", "IDEMPOTENCY_PAYLOAD_MISMATCH")),
)
async def pay(booking_id: str, request: Request, user: CurrentUser, uow: UnitOfWorkDep,
              idem: PayIdempotently) -> Response:
    """A Stripe Checkout Session for the booking's total; open `checkoutUrl` to pay. While
    maintenance mode is on: 503 SERVICE_UNAVAILABLE, retryable, with `Retry-After`."""
    actor = Actor.from_request(request, user_id=user.id, role=user.role)
    checkout = await checkout_flow.start_checkout(uow, booking_ref=booking_id, user_id=user.id, actor=actor)
    return await idem.respond(200, checkout)


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


@webhook_router.post("/webhooks/stripe", summary="Stripe events (raw body, Stripe-Signature)",
                     responses=responses("INVALID_SIGNATURE"))
async def stripe_webhook(request: Request, runtime: RuntimeDep) -> Response:
    payload = await request.body()
    if len(payload) > MAX_WEBHOOK_BYTES:
        raise InvalidSignature("The event is too large to be a Stripe event.")
    if not _is_utf8(payload):  # Stripe sends UTF-8 JSON; the SDK's check would crash on anything else
        WEBHOOK_EVENTS.labels("unknown", "bad_signature").inc()
        _log.warning("webhook_bad_signature", reason="body is not UTF-8")
        raise InvalidSignature("The event body is not UTF-8, so it cannot be a Stripe event.")
    try:
        event = runtime.payment_gateway.verify_event(payload, request.headers.get("stripe-signature"))
    except InvalidSignature as exc:
        WEBHOOK_EVENTS.labels("unknown", "bad_signature").inc()
        _log.warning("webhook_bad_signature", reason=str(exc))
        # The answer does not say why (the log does): no hints for someone forging signatures.
        raise InvalidSignature() from exc
    structlog.contextvars.bind_contextvars(stripe_event_id=event.id, stripe_event_type=event.type)
    if await webhooks.receive(runtime, event):
        return JSONResponse({"received": True, "id": event.id})
    return error_response(500, "INTERNAL_ERROR", "The event could not be processed; it will be retried.")


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True

