"""What happens when the customer acts on the hosted page, as Stripe does it.

- `succeeded`: charge and intent succeed, the session is complete and paid. Events
  `charge.succeeded`, `payment_intent.succeeded`, `checkout.session.completed`.
- `declined`: the charge fails and the intent goes back to `requires_payment_method`; the
  session stays open, so the customer may try again (with the same intent). Events
  `charge.failed`, `payment_intent.payment_failed`.
- `async_succeeded`: a bank debit. The session completes unpaid (intent `processing`,
  charge `pending`), then the debit settles: `checkout.session.completed`, then
  `charge.succeeded`, `payment_intent.succeeded`, `checkout.session.async_payment_succeeded`.
- `async_failed`: as above, but the debit fails: `checkout.session.completed`, then
  `charge.failed`, `payment_intent.payment_failed`, `checkout.session.async_payment_failed`.
"""

from __future__ import annotations

from typing import Literal, get_args

from ais.payments.sandbox import objects, repository
from ais.payments.sandbox.events import Context, emit
from ais.payments.sandbox.ids import new_id
from ais.payments.sandbox.repository import StoredObject
from ais.payments.sandbox.sessions import load_session

JsonObject = objects.JsonObject
Outcome = Literal["succeeded", "declined", "async_succeeded", "async_failed"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)


class SessionNotOpen(Exception):
    """The session can no longer be paid: it is `complete` or `expired`."""

    def __init__(self, session: JsonObject) -> None:
        super().__init__(f"Checkout Session {session['id']} is {session['status']}")
        self.session = session


async def complete(ctx: Context, session_id: str, outcome: Outcome) -> StoredObject:
    """Apply the customer's `outcome` to an open session; the session afterwards.

    Raises `errors.StripeError` (resource_missing) for an unknown id and `SessionNotOpen`
    when the session is complete or has expired (expiring it first if its time has passed).
    """
    # Locked until commit: a second submission of the same page waits, then finds it complete.
    session = await load_session(ctx, session_id, for_update=True)
    if session.body["status"] != "open":
        raise SessionNotOpen(session.body)
    intent = await _intent_for(ctx, session)
    email = session.body["customer_email"] or "customer@example.com"
    asynchronous = outcome.startswith("async_")
    method_details = objects.bank_debit_details() if asynchronous else objects.card_details(
        objects.CARD_LAST4["declined" if outcome == "declined" else "succeeded"], intent.body["amount"])
    charge = StoredObject(objects.charge(created=ctx.now, intent=intent.body, payment_method=new_id("payment_method"),
                                         method_details=method_details, billing_email=email))
    await repository.insert_object(ctx.conn, charge)
    intent.body.update(latest_charge=charge.id, last_payment_error=None)

    if outcome == "declined":
        await _fail(ctx, intent, charge, asynchronous=False)
        session.body["payment_intent"] = intent.id
        await repository.update_object(ctx.conn, session)
        return session

    session.body.update(payment_intent=intent.id, customer_details=_customer_details(email))
    if outcome == "succeeded":
        await _succeed(ctx, intent, charge)
        session.body.update(status="complete", payment_status="paid", url=None)
        await repository.update_object(ctx.conn, session)
        await emit(ctx, "checkout.session.completed", session.body, automatic=True)
        return session

    # An asynchronous method: the session completes now, the money settles later.
    intent.body.update(status="processing", payment_method=charge.body["payment_method"])
    await repository.update_object(ctx.conn, intent)
    session.body.update(status="complete", payment_status="unpaid", url=None)
    await repository.update_object(ctx.conn, session)
    await emit(ctx, "checkout.session.completed", session.body, automatic=True)
    if outcome == "async_succeeded":
        await _succeed(ctx, intent, charge)
        session.body["payment_status"] = "paid"
        await repository.update_object(ctx.conn, session)
        await emit(ctx, "checkout.session.async_payment_succeeded", session.body, automatic=True)
    else:
        await _fail(ctx, intent, charge, asynchronous=True)
        await emit(ctx, "checkout.session.async_payment_failed", session.body, automatic=True)
    return session


async def _intent_for(ctx: Context, session: StoredObject) -> StoredObject:
    """The session's PaymentIntent: the one a declined attempt left, or a new one."""
    if session.body["payment_intent"] is not None:
        existing = await repository.get_object(ctx.conn, session.body["payment_intent"], "payment_intent")
        if existing is not None:
            return existing
    data = session.internal.get("payment_intent_data", {})
    intent = StoredObject(objects.payment_intent(
        created=ctx.now,
        amount=session.body["amount_total"],
        currency=session.body["currency"],
        metadata=dict(data.get("metadata", {})),
        description=data.get("description"),
        receipt_email=data.get("receipt_email"),
        payment_method_types=list(session.body["payment_method_types"]),
        statement_descriptor=data.get("statement_descriptor"),
        statement_descriptor_suffix=data.get("statement_descriptor_suffix"),
    ))
    await repository.insert_object(ctx.conn, intent)
    return intent


async def _succeed(ctx: Context, intent: StoredObject, charge: StoredObject) -> None:
    charge.body.update(status="succeeded", paid=True, outcome=dict(objects.APPROVED))
    await repository.update_object(ctx.conn, charge)
    intent.body.update(status="succeeded", amount_received=intent.body["amount"],
                       payment_method=charge.body["payment_method"], last_payment_error=None)
    await repository.update_object(ctx.conn, intent)
    await emit(ctx, "charge.succeeded", charge.body, automatic=True)
    await emit(ctx, "payment_intent.succeeded", intent.body, automatic=True)


async def _fail(ctx: Context, intent: StoredObject, charge: StoredObject, *, asynchronous: bool) -> None:
    if asynchronous:
        code, message = "debit_not_authorized", "The customer's bank did not authorize the debit."
        charge.body.update(outcome=None)
        error_type = "invalid_request_error"
    else:
        code, message = "card_declined", objects.DECLINE_MESSAGE
        charge.body.update(outcome=dict(objects.DECLINED))
        error_type = "card_error"
    charge.body.update(status="failed", paid=False, captured=False, amount_captured=0, failure_code=code,
                       failure_message=message)
    await repository.update_object(ctx.conn, charge)
    error: JsonObject = {
        "charge": charge.id,
        "code": code,
        "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        "message": message,
        "payment_method": {"id": charge.body["payment_method"], "object": "payment_method",
                           "type": charge.body["payment_method_details"]["type"]},
        "type": error_type,
    }
    if not asynchronous:
        error["decline_code"] = "generic_decline"
    intent.body.update(status="requires_payment_method", payment_method=None, last_payment_error=error)
    await repository.update_object(ctx.conn, intent)
    await emit(ctx, "charge.failed", charge.body, automatic=True)
    await emit(ctx, "payment_intent.payment_failed", intent.body, automatic=True)


def _customer_details(email: str) -> JsonObject:
    return {"address": None, "business_name": None, "email": email, "individual_name": None, "name": None,
            "phone": None, "tax_exempt": "none", "tax_ids": []}
