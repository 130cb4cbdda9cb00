"""`ais.reconciliation.rules.decide` over generated provider answers and ledgers (hypothesis): the
properties every run relies on, whatever the provider says. No database, no provider: the rules
are pure. `test_decide.py` has the named cases."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ais.bookings.rules import BookingStatus
from ais.payments.gateway import Charge, CheckoutSession, PaymentIntent, ProviderRefund
from ais.payments.models import PaymentStatus
from ais.reconciliation.rules import (
    APPLY_CAPTURE,
    APPLY_FAILURE,
    APPLY_REFUNDS,
    Candidate,
    Current,
    LedgerView,
    Plan,
    ProviderView,
    decide,
)

PAYMENT = uuid.uuid4()
AMOUNT, CURRENCY = 45000, "SAR"
STATUSES = list(PaymentStatus)


@st.composite
def provider_views(draw: st.DrawFn) -> ProviderView:
    """A Checkout Session (or none), its PaymentIntent (or none), the Charge and refunds."""
    amount = draw(st.sampled_from([AMOUNT, AMOUNT - 1, AMOUNT + 100]))
    currency = draw(st.sampled_from([CURRENCY, CURRENCY, "USD"]))
    payment_id = draw(st.sampled_from([str(PAYMENT), str(PAYMENT), str(uuid.uuid4())]))
    metadata = {"paymentId": payment_id}
    intent_status = draw(st.sampled_from([None, "succeeded", "processing", "requires_payment_method", "canceled"]))
    session_status = draw(st.sampled_from(["open", "complete", "expired"]))
    checkout = None if draw(st.booleans()) else CheckoutSession(
        id="cs_1", url=None, status=session_status,
        payment_status="paid" if intent_status == "succeeded" else "unpaid",
        payment_intent_id="pi_1" if intent_status else None, amount_total=AMOUNT, currency=CURRENCY,
        expires_at=datetime.now(UTC), metadata=metadata)
    if intent_status is None:
        return ProviderView(checkout=checkout, intent=None, charge=None, refunds=[])
    succeeded = intent_status == "succeeded"
    intent = PaymentIntent(id="pi_1", status=intent_status, amount=amount, amount_received=amount if succeeded else 0,
                           currency=currency, latest_charge_id="ch_1" if succeeded or draw(st.booleans()) else None,
                           metadata=metadata)
    refunds = [ProviderRefund(id=f"re_{i}", charge_id="ch_1", payment_intent_id="pi_1", amount=refund_amount,
                              currency=currency, status=status)
               for i, (refund_amount, status) in enumerate(draw(st.lists(
                   st.tuples(st.integers(1, amount), st.sampled_from(["succeeded", "pending", "failed"])),
                   max_size=3 if succeeded else 0)))]
    charge = Charge(id="ch_1", payment_intent_id="pi_1", amount=amount, amount_captured=amount,
                    amount_refunded=sum(r.amount for r in refunds), currency=currency, status="succeeded",
                    disputed=draw(st.booleans())) if succeeded else None
    return ProviderView(checkout=checkout, intent=intent, charge=charge, refunds=refunds)


@st.composite
def ledgers(draw: st.DrawFn) -> LedgerView:
    charge = draw(st.sampled_from([None, (AMOUNT, CURRENCY), (AMOUNT - 1, CURRENCY)]))
    refund_ids = frozenset(draw(st.lists(st.sampled_from(["re_0", "re_1", "re_2"]), max_size=3)))
    return LedgerView(charge=charge, refund_ids=refund_ids if charge else frozenset(),
                      dispute_recorded=draw(st.booleans()))


def candidate(status: PaymentStatus, intent: str | None = "pi_1") -> Candidate:
    return Candidate(payment_id=PAYMENT, booking_id=uuid.uuid4(), booking_reference="ABC123",
                     checkout_session_id="cs_1", payment_intent_id=intent, status=status, amount_minor=AMOUNT,
                     currency=CURRENCY, booking_status=BookingStatus.PENDING)


def current(status: PaymentStatus, intent: str | None = "pi_1") -> Current:
    return Current(payment_status=status, payment_intent_id=intent, booking_status=BookingStatus.PENDING)


def applied(plan: Plan, ledger: LedgerView, status: PaymentStatus) -> tuple[LedgerView, PaymentStatus]:
    """Our side after the settlement functions applied `plan`, as the webhook would have left it."""
    if plan.capture is not None:
        ledger = replace(ledger, charge=(plan.capture.amount, plan.capture.currency))
        status = PaymentStatus.SUCCEEDED
    if plan.failure is not None:
        status = PaymentStatus.FAILED
    if plan.refunds:
        done = [r for r in plan.refunds if r.status == "succeeded"]
        ledger = replace(ledger, refund_ids=ledger.refund_ids | {r.id for r in done})
        refunded = sum(r.amount for r in done)
        status = PaymentStatus.REFUNDED if refunded >= plan.charge_amount else PaymentStatus.PARTIALLY_REFUNDED
    return ledger, status


@settings(max_examples=400, deadline=None)
@given(status=st.sampled_from(STATUSES), view=provider_views(), ledger=ledgers())
def test_a_plan_is_consistent_with_what_it_was_shown(status: PaymentStatus, view: ProviderView,
                                                     ledger: LedgerView) -> None:
    plan = decide(candidate(status), current(status), view, ledger)

    assert decide(candidate(status), current(status), view, ledger) == plan  # no hidden state
    assert not (plan.capture and plan.failure)  # never both captured and failed
    assert set(plan.actions) <= {APPLY_CAPTURE, APPLY_FAILURE, APPLY_REFUNDS}
    if plan.capture is not None:  # only the money we asked for, and only once
        assert ledger.charge is None and (plan.capture.amount, plan.capture.currency) == (AMOUNT, CURRENCY)
        assert view.intent is not None and view.intent.status == "succeeded"
    if plan.failure is not None:  # only a pending payment fails, and never one the provider captured
        assert status == PaymentStatus.PENDING and (view.intent is None or view.intent.status != "succeeded")
    if plan.refunds:  # only against a charge, and only when a succeeded refund is missing
        assert ledger.charge is not None or plan.capture is not None
        assert any(r.status == "succeeded" and r.id not in ledger.refund_ids for r in plan.refunds)
    if view.checkout is not None and view.checkout.metadata["paymentId"] != str(PAYMENT):
        assert plan.actions == [] and [p.code for p in plan.problems] == ["metadata_mismatch"]


@settings(max_examples=400, deadline=None)
@given(status=st.sampled_from(STATUSES), view=provider_views(), ledger=ledgers())
def test_after_a_plan_is_applied_the_same_answer_asks_for_nothing_more(status: PaymentStatus, view: ProviderView,
                                                                      ledger: LedgerView) -> None:
    """A second run (or the webhook arriving late) after a fix adds nothing: the fix is complete."""
    plan = decide(candidate(status), current(status), view, ledger)
    ledger_after, status_after = applied(plan, ledger, status)

    again = decide(candidate(status_after), current(status_after), view, ledger_after)

    assert again.actions == [], (plan.actions, again.actions, again.reason())


@settings(max_examples=200, deadline=None)
@given(read=st.sampled_from(STATUSES), now=st.sampled_from(STATUSES), view=provider_views(), ledger=ledgers())
def test_a_payment_that_moved_since_the_provider_was_read_is_left_alone(read: PaymentStatus, now: PaymentStatus,
                                                                       view: ProviderView, ledger: LedgerView) -> None:
    plan = decide(candidate(read), current(now), view, ledger)
    if read != now:
        assert (plan.actions, plan.problems) == ([], [])
