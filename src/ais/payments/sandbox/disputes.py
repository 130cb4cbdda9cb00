"""Disputes, through Stripe-style test helpers: open one on a charge, close it won or lost."""

from __future__ import annotations

from ais.payments.sandbox import objects, repository
from ais.payments.sandbox.errors import resource_missing, state_error
from ais.payments.sandbox.events import Context, changed, emit
from ais.payments.sandbox.params import Params
from ais.payments.sandbox.repository import StoredObject

JsonObject = objects.JsonObject
REASONS = ("bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated",
           "debit_not_authorized", "duplicate", "fraudulent", "general", "incorrect_account_details",
           "insufficient_funds", "product_not_received", "product_unacceptable", "subscription_canceled",
           "unrecognized")
OPEN_STATUSES = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")
EVIDENCE_DAYS = 7


async def create_dispute(ctx: Context, charge_id: str, params: Params) -> JsonObject:
    """The cardholder disputes the whole charge: a `needs_response` dispute, the charge marked
    `disputed`, and `charge.dispute.created`."""
    params.only("reason", "expand")
    reason = params.choice("reason", REASONS) or "fraudulent"
    charge = await repository.get_object(ctx.conn, charge_id, "charge", for_update=True)
    if charge is None:
        raise resource_missing("charge", charge_id, "charge")
    if charge.body["status"] != "succeeded":
        raise state_error(f"Charge {charge_id} has not succeeded, so it cannot be disputed.")
    if charge.body["disputed"]:
        raise state_error(f"Charge {charge_id} has already been disputed.", "charge_disputed")
    if charge.body["refunded"]:
        raise state_error(f"Charge {charge_id} has already been refunded.", "charge_already_refunded")
    dispute = StoredObject(objects.dispute(created=ctx.now, charge_body=charge.body, reason=reason,
                                           due_by=ctx.now + EVIDENCE_DAYS * 86400))
    await repository.insert_object(ctx.conn, dispute)
    charge.body["disputed"] = True
    charge.internal["dispute_id"] = dispute.id
    await repository.update_object(ctx.conn, charge)
    await emit(ctx, "charge.dispute.created", dispute.body)
    return dispute.body


async def close_dispute(ctx: Context, dispute_id: str, params: Params) -> JsonObject:
    """Decide an open dispute `won` or `lost`, with `charge.dispute.closed`."""
    params.only("status", "expand")
    status = params.choice("status", ("won", "lost"), required=True)
    dispute = await repository.get_object(ctx.conn, dispute_id, "dispute", for_update=True)
    if dispute is None:
        raise resource_missing("dispute", dispute_id, "dispute")
    if dispute.body["status"] not in OPEN_STATUSES:
        raise state_error(f"Dispute {dispute_id} is already closed (status `{dispute.body['status']}`).")
    before = dict(dispute.body)
    dispute.body["status"] = status
    await repository.update_object(ctx.conn, dispute)
    await emit(ctx, "charge.dispute.closed", dispute.body, previous_attributes=changed(before, dispute.body, "status"))
    return dispute.body
