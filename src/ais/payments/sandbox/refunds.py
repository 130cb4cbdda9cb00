"""Refunds, full and partial, never more than what remains on the charge."""

from __future__ import annotations

from ais.payments.sandbox import currencies, objects, repository
from ais.payments.sandbox.errors import param_error, resource_missing, state_error
from ais.payments.sandbox.events import Context, changed, emit
from ais.payments.sandbox.params import Params
from ais.payments.sandbox.repository import StoredObject

JsonObject = objects.JsonObject
CREATE_PARAMS = ("charge", "payment_intent", "amount", "reason", "metadata", "expand", "instructions_email")
REASONS = ("duplicate", "fraudulent", "requested_by_customer")


async def create_refund(ctx: Context, params: Params) -> JsonObject:
    """Refund `amount` (default: all that remains) of a succeeded charge, named directly or
    through its PaymentIntent. The check and the update happen in one unit of work, so two
    concurrent refunds can never together exceed the charge."""
    params.only(*CREATE_PARAMS)
    charge_id = params.string("charge")
    intent_id = params.string("payment_intent")
    amount = params.integer("amount", minimum=1)
    reason = params.choice("reason", REASONS)
    metadata = params.metadata()
    params.string("instructions_email")
    if charge_id is None and intent_id is None:
        raise param_error("One of the following params should be provided for this request: charge or "
                          "payment_intent.", None, "parameter_missing")
    charge = await _charge_to_refund(ctx, charge_id, intent_id)
    body = charge.body
    if body["disputed"]:
        raise state_error(f"Charge {charge.id} has been charged back; you cannot issue a refund for it.",
                          "charge_disputed")
    remaining = body["amount"] - body["amount_refunded"]
    if remaining <= 0:
        raise state_error(f"Charge {charge.id} has already been refunded.", "charge_already_refunded")
    if amount is None:
        amount = remaining
    elif amount > remaining:
        currency = body["currency"]
        raise state_error(
            f"Refund amount ({_money(amount, currency)}) is greater than unrefunded amount on charge "
            f"({_money(remaining, currency)})", "amount_too_large", "amount")
    refund = StoredObject(objects.refund(created=ctx.now, charge_body=body, amount=amount, reason=reason,
                                         metadata=metadata))
    await repository.insert_object(ctx.conn, refund)
    before = dict(body)
    body["amount_refunded"] += amount
    body["refunded"] = body["amount_refunded"] == body["amount"]
    charge.internal.setdefault("refund_ids", []).append(refund.id)
    await repository.update_object(ctx.conn, charge)
    await emit(ctx, "charge.refunded", body, previous_attributes=changed(before, body, "amount_refunded", "refunded"))
    await emit(ctx, "refund.created", refund.body)
    return refund.body


async def _charge_to_refund(ctx: Context, charge_id: str | None, intent_id: str | None) -> StoredObject:
    if intent_id is not None:
        intent = await repository.get_object(ctx.conn, intent_id, "payment_intent")
        if intent is None:
            raise resource_missing("payment_intent", intent_id, "payment_intent")
        if intent.body["status"] != "succeeded" or intent.body["latest_charge"] is None:
            raise state_error(f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                              "charge_not_refundable", "payment_intent")
        if charge_id is not None and charge_id != intent.body["latest_charge"]:
            raise param_error(f"Charge {charge_id} does not belong to PaymentIntent {intent_id}.", "charge")
        charge_id = intent.body["latest_charge"]
    assert charge_id is not None
    # Locked until commit: concurrent refunds of one charge each see what the previous one left.
    charge = await repository.get_object(ctx.conn, charge_id, "charge", for_update=True)
    if charge is None:
        raise resource_missing("charge", charge_id, "charge")
    if charge.body["status"] != "succeeded":
        raise state_error(f"Charge {charge_id} has not succeeded, so it cannot be refunded.",
                          "charge_not_refundable", "charge")
    return charge


def _money(amount: int, currency: str) -> str:
    return f"{currency.upper()} {currencies.format_amount(amount, currency)}"
