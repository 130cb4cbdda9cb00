"""Reconciliation's decision (SPEC §5), with no I/O: given one payment as we hold it, the provider's
view of it and what our ledger already records, what is missing on our side (a capture, a
failure, refunds) and what disagrees beyond fixing (the problems a person must look at).

`decide` is the one decision a dry run and a real run share; `ais.reconciliation.service` reads
the inputs (the provider outside any transaction, our side under the booking's lock) and applies
the plan through the settlement functions the webhook uses.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from ais.bookings.rules import BookingStatus
from ais.money import MoneyError, format_amount
from ais.payments.gateway import Charge, CheckoutSession, PaymentIntent, ProviderRefund
from ais.payments.models import PaymentStatus


@dataclass(frozen=True, slots=True)
class Candidate:
    """A payment to compare, as read before any provider call (no ORM object kept around)."""

    payment_id: uuid.UUID
    booking_id: uuid.UUID
    booking_reference: str
    checkout_session_id: str
    payment_intent_id: str | None
    status: PaymentStatus
    amount_minor: int
    currency: str
    booking_status: BookingStatus


@dataclass(frozen=True, slots=True)
class LedgerView:
    """What the ledger holds about one payment."""

    charge: tuple[int, str] | None  # (amount, currency) of the CHARGE entry of its PaymentIntent
    refund_ids: frozenset[str]  # provider refund ids already recorded (refund or partial_refund)
    dispute_recorded: bool  # a dispute entry exists for its charge


@dataclass(frozen=True, slots=True)
class Current:
    """The payment and booking as they are now (read in the transaction that decides)."""

    payment_status: PaymentStatus
    payment_intent_id: str | None
    booking_status: BookingStatus


FAILED_INTENT = frozenset({"requires_payment_method", "canceled"})

APPLY_CAPTURE, APPLY_FAILURE, APPLY_REFUNDS = "apply_capture", "apply_failure", "apply_refunds"


@dataclass(frozen=True, slots=True)
class ProviderView:
    checkout: CheckoutSession | None  # not asked for a settled payment whose PaymentIntent we hold
    intent: PaymentIntent | None
    charge: Charge | None
    refunds: list[ProviderRefund]


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str
    ours: dict[str, Any] | None = None
    provider: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.ours is not None:
            body["ours"] = self.ours
        if self.provider is not None:
            body["provider"] = self.provider
        return body


@dataclass(frozen=True, slots=True)
class Capture:
    payment_intent_id: str
    charge_id: str | None
    amount: int
    currency: str


@dataclass
class Plan:
    """What our records miss of what the provider reports, and what disagrees beyond fixing."""

    capture: Capture | None = None
    failure: str | None = None  # the reason recorded on the booking
    refunds: list[ProviderRefund] = field(default_factory=list)
    charge_amount: int = 0  # what the refunds are measured against (full or partial)
    problems: list[Problem] = field(default_factory=list)
    note: str = "in agreement with the provider"

    @property
    def actions(self) -> list[str]:
        return ([APPLY_CAPTURE] if self.capture else []) + ([APPLY_FAILURE] if self.failure else []) + (
            [APPLY_REFUNDS] if self.refunds else [])

    def reason(self) -> str:
        parts = [problem.message for problem in self.problems]
        if self.capture:
            parts.append("the provider captured the payment; our ledger has no charge (missed webhook)")
        if self.failure:
            parts.append(f"{self.failure} at the provider; our payment is still pending")
        if self.refunds:
            parts.append(f"{len(self.refunds)} refund(s) at the provider missing from our ledger")
        return "; ".join(parts) or self.note


def _money(amount: int, currency: str) -> dict[str, Any]:
    try:
        shown = format_amount(amount, currency)
    except MoneyError:
        shown = str(amount)  # a currency we do not know: minor units as they are
    return {"amount": shown, "currency": currency}


def decide(candidate: Candidate, now: Current, view: ProviderView, ledger: LedgerView) -> Plan:
    """What to do about one payment (no I/O): the same decision for a dry and a real run."""
    plan = Plan()
    checkout, intent = view.checkout, view.intent
    if now.payment_status != candidate.status:
        plan.note = "changed while being reconciled (a webhook came in): compared again next run"
        return plan  # what the provider said was read before that change
    metadata = checkout.metadata if checkout is not None else intent.metadata if intent is not None else {}
    claimed = metadata.get("paymentId")
    if claimed and claimed != str(candidate.payment_id):
        plan.problems.append(Problem("metadata_mismatch", "the Checkout Session belongs to another payment",
                                     ours={"paymentId": str(candidate.payment_id)}, provider={"paymentId": claimed}))
        return plan
    if (checkout is not None and now.payment_intent_id and checkout.payment_intent_id
            and now.payment_intent_id != checkout.payment_intent_id):
        plan.problems.append(Problem("payment_intent_mismatch", "the session's PaymentIntent is not the one we hold",
                                     ours={"paymentIntentId": now.payment_intent_id},
                                     provider={"paymentIntentId": checkout.payment_intent_id}))
        return plan
    session_status = checkout.status if checkout is not None else None
    settled = now.payment_status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED,
                                     PaymentStatus.PARTIALLY_REFUNDED)
    if settled and (intent is None or intent.status != "succeeded"):
        plan.problems.append(Problem(
            "status_mismatch", f"our payment is {now.payment_status.value} but the provider holds no captured "
                               f"PaymentIntent ({intent.status if intent else 'none'})"))
        return plan
    if intent is None:
        if checkout is not None and checkout.payment_status == "paid":
            plan.problems.append(Problem("provider_inconsistent", "the session is paid but has no PaymentIntent"))
        elif now.payment_status == PaymentStatus.PENDING and session_status == "expired":
            plan.failure = "checkout expired"
        elif now.payment_status == PaymentStatus.PENDING:
            plan.note = "checkout still open at the provider"
        return plan

    if intent.status != "succeeded":
        if now.payment_status != PaymentStatus.PENDING:
            return plan
        if intent.status in FAILED_INTENT and (intent.latest_charge_id or session_status == "expired"):
            plan.failure = "asynchronous payment failed" if session_status == "complete" else (
                "checkout expired" if session_status == "expired" else "payment declined")
        elif session_status == "expired":
            plan.failure = "checkout expired"
        else:
            plan.note = f"payment {intent.status} at the provider"
        return plan

    amount, currency = intent.amount_received, intent.currency.upper()
    provider_money = _money(amount, currency)
    if ledger.charge is None:
        if currency != candidate.currency:
            plan.problems.append(Problem("currency_mismatch", "the provider captured another currency",
                                         ours=_money(candidate.amount_minor, candidate.currency),
                                         provider=provider_money))
        elif amount != candidate.amount_minor:
            plan.problems.append(Problem("amount_mismatch", "the provider captured another amount",
                                         ours=_money(candidate.amount_minor, candidate.currency),
                                         provider=provider_money))
        else:
            plan.capture = Capture(intent.id, intent.latest_charge_id, amount, currency)
    elif ledger.charge != (amount, currency):
        plan.problems.append(Problem("ledger_mismatch", "our ledger's charge differs from the provider's capture",
                                     ours=_money(*ledger.charge), provider=provider_money))
    elif now.payment_status in (PaymentStatus.PENDING, PaymentStatus.FAILED):
        plan.problems.append(Problem("status_mismatch",
                                     f"the ledger holds the charge but the payment is {now.payment_status.value}"))

    charged = ledger.charge is not None or plan.capture is not None
    missing = [r for r in view.refunds if r.status == "succeeded" and r.id not in ledger.refund_ids]
    if missing and charged:
        plan.refunds = list(view.refunds)  # as the webhook passes them: every refund of the intent
        plan.charge_amount = (view.charge.amount_captured or view.charge.amount) if view.charge else amount
    elif missing:
        plan.problems.append(Problem("refunds_without_charge",
                                     "the provider refunded money our ledger never recorded as charged",
                                     provider={"refunds": [r.id for r in missing]}))
    if view.charge is not None and view.charge.disputed and not ledger.dispute_recorded:
        plan.problems.append(Problem("dispute_not_recorded",
                                     "the charge is disputed at the provider but the ledger has no dispute; "
                                     "replay its charge.dispute.* event (the gateway exposes no dispute object)",
                                     provider={"chargeId": view.charge.id}))
    return plan
