"""One handler per Stripe event type. A handler maps the event to our payment and booking and
applies it through `settlement`; it runs inside the inbox transaction. Anything it needs from the
provider beyond the event itself is fetched by `prefetch`, before that transaction opens."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit.service import Actor
from ais.bookings.models import Booking
from ais.payments import repository, settlement
from ais.payments.gateway import PaymentGateway, ProviderRefund, ProviderRejected
from ais.payments.models import Payment

_log = structlog.get_logger("ais.payments.events")
ACTOR = Actor.system("stripe_webhook")


@dataclass
class Prefetched:
    refunds: list[ProviderRefund] = field(default_factory=list)
    # The PaymentIntent's metadata (our paymentId): a refund or dispute may arrive before the
    # capture that would have linked the PaymentIntent to our payment.
    intent_metadata: dict[str, str] = field(default_factory=dict)


Handler = Callable[[AsyncSession, dict[str, Any], str, Prefetched], Awaitable[None]]


async def prefetch(gateway: PaymentGateway, event_type: str, obj: dict[str, Any]) -> Prefetched:
    """Provider reads a handler needs, done outside any database transaction."""
    intent_id = _id(obj.get("payment_intent"))
    if event_type == "charge.refunded" and intent_id:
        return Prefetched(refunds=await gateway.list_refunds(payment_intent_id=intent_id),
                          intent_metadata=await _intent_metadata(gateway, intent_id))
    if event_type.startswith("charge.dispute.") and intent_id:
        return Prefetched(intent_metadata=await _intent_metadata(gateway, intent_id))
    return Prefetched()


async def _intent_metadata(gateway: PaymentGateway, intent_id: str) -> dict[str, str]:
    """Our paymentId, from the PaymentIntent: found even before its capture event arrived."""
    try:
        return (await gateway.retrieve_payment_intent(intent_id)).metadata
    except ProviderRejected:  # no such PaymentIntent at the provider: not one of ours
        return {}


def _id(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value.get("id"))


async def _payment_and_booking(session: AsyncSession, obj: dict[str, Any], event_id: str, *,
                               checkout_session_id: str | None = None, payment_intent_id: str | None = None,
                               charge_id: str | None = None) -> tuple[Payment, Booking] | tuple[None, None]:
    """The event's payment (by the paymentId in its metadata, else by the provider's ids) and its
    booking, locked for the status change; (None, None) for a payment that is not ours."""
    named = (obj.get("metadata") or {}).get("paymentId")
    try:
        payment_id = uuid.UUID(str(named)) if named else None
    except ValueError:  # not one of our ids: found by the provider's ids, if at all
        payment_id = None
    found = await repository.payment_with_locked_booking(
        session, payment_id=payment_id, checkout_session_id=checkout_session_id,
        payment_intent_id=payment_intent_id, charge_id=charge_id)
    if found is None:
        _log.warning("event_for_unknown_payment", event_id=event_id)
        return None, None
    return found


async def _session_paid(session: AsyncSession, obj: dict[str, Any], event_id: str, _: Prefetched) -> None:
    payment, booking = await _payment_and_booking(session, obj, event_id, checkout_session_id=obj.get("id"))
    if payment is None or booking is None:
        return
    intent_id = _id(obj.get("payment_intent"))
    if obj.get("payment_status") != "paid" or not intent_id:
        payment.payment_intent_id = payment.payment_intent_id or intent_id  # async method: money not in yet
        return
    await settlement.record_capture(
        session, booking=booking, payment=payment, payment_intent_id=intent_id, charge_id=None,
        amount=int(obj.get("amount_total") or 0), currency=str(obj.get("currency") or "").upper(),
        event_id=event_id, actor=ACTOR)


async def _session_failed(session: AsyncSession, obj: dict[str, Any], event_id: str, _: Prefetched) -> None:
    payment, booking = await _payment_and_booking(session, obj, event_id, checkout_session_id=obj.get("id"))
    if payment is None or booking is None:
        return
    reason = "checkout expired" if obj.get("status") == "expired" else "asynchronous payment failed"
    await settlement.record_failure(session, booking=booking, payment=payment, reason=reason, actor=ACTOR)


async def _intent_succeeded(session: AsyncSession, obj: dict[str, Any], event_id: str, _: Prefetched) -> None:
    payment, booking = await _payment_and_booking(session, obj, event_id, payment_intent_id=obj.get("id"))
    if payment is None or booking is None:
        return
    await settlement.record_capture(
        session, booking=booking, payment=payment, payment_intent_id=str(obj["id"]),
        charge_id=_id(obj.get("latest_charge")), amount=int(obj.get("amount_received") or 0),
        currency=str(obj.get("currency") or "").upper(), event_id=event_id, actor=ACTOR)


async def _intent_failed(session: AsyncSession, obj: dict[str, Any], event_id: str, _: Prefetched) -> None:
    payment, booking = await _payment_and_booking(session, obj, event_id, payment_intent_id=obj.get("id"))
    if payment is None or booking is None:
        return
    error = (obj.get("last_payment_error") or {}).get("message") or "payment declined"
    await settlement.record_failure(session, booking=booking, payment=payment, reason=str(error)[:200], actor=ACTOR)


async def _charge_refunded(session: AsyncSession, obj: dict[str, Any], event_id: str, pre: Prefetched) -> None:
    intent_id = _id(obj.get("payment_intent"))
    payment, booking = await _payment_and_booking(
        session, {"metadata": obj.get("metadata") or pre.intent_metadata}, event_id, payment_intent_id=intent_id,
        charge_id=obj.get("id"))
    if payment is None or booking is None:
        return
    if intent_id and obj.get("status") == "succeeded":
        # A refunded charge was captured first. Its capture event may not have arrived yet:
        # apply the capture now (once, by the ledger's uniqueness) so the refunds land on a
        # paid booking, as they would have in the provider's order.
        await settlement.record_capture(
            session, booking=booking, payment=payment, payment_intent_id=intent_id, charge_id=obj.get("id"),
            amount=int(obj.get("amount_captured") or obj.get("amount") or 0),
            currency=str(obj.get("currency") or "").upper(), event_id=event_id, actor=ACTOR)
    await settlement.record_refunds(session, booking=booking, payment=payment,
                                    charge_amount=int(obj.get("amount_captured") or obj.get("amount") or 0),
                                    refunds=pre.refunds, event_id=event_id, actor=ACTOR)


async def _dispute(session: AsyncSession, obj: dict[str, Any], event_id: str, pre: Prefetched) -> None:
    charge_id = _id(obj.get("charge"))
    payment, booking = await _payment_and_booking(session, {"metadata": pre.intent_metadata}, event_id,
                                                  payment_intent_id=_id(obj.get("payment_intent")), charge_id=charge_id)
    if payment is None or booking is None:
        return
    await settlement.record_dispute(
        session, booking=booking, dispute_id=str(obj["id"]), amount=int(obj.get("amount") or 0),
        currency=str(obj.get("currency") or "").upper(), charge_id=charge_id,
        payment_intent_id=payment.payment_intent_id, status=str(obj.get("status") or ""), event_id=event_id,
        actor=ACTOR)


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _session_paid,
    "checkout.session.async_payment_succeeded": _session_paid,
    "checkout.session.async_payment_failed": _session_failed,
    "checkout.session.expired": _session_failed,
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute,
    "charge.dispute.closed": _dispute,
}
