"""`decide`, the one decision a dry and a real run share, on provider answers the sandbox cannot
easily be made to give (currency changed, disputes, refunds of money we never saw charged)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from ais.bookings.rules import BookingStatus
from ais.payments.gateway import Charge, CheckoutSession, PaymentIntent, ProviderRefund
from ais.payments.models import PaymentStatus
from ais.reconciliation.rules import Candidate, Current, LedgerView, ProviderView, decide

PAYMENT = uuid.uuid4()


def candidate(status: PaymentStatus = PaymentStatus.PENDING, intent: str | None = None) -> Candidate:
    return Candidate(payment_id=PAYMENT, booking_id=uuid.uuid4(), booking_reference="ABC123",
                     checkout_session_id="cs_1", payment_intent_id=intent, status=status, amount_minor=45000,
                     currency="SAR", booking_status=BookingStatus.PENDING)


def now(status: PaymentStatus = PaymentStatus.PENDING, intent: str | None = None) -> Current:
    return Current(payment_status=status, payment_intent_id=intent, booking_status=BookingStatus.PENDING)


def view(*, session_status: str = "complete", paid: bool = True, intent_status: str = "succeeded",
         amount: int = 45000, currency: str = "SAR", refunds: tuple[ProviderRefund, ...] = (),
         disputed: bool = False, payment_id: str | None = None) -> ProviderView:
    metadata = {"paymentId": payment_id or str(PAYMENT)}
    return ProviderView(
        checkout=CheckoutSession(id="cs_1", url=None, status=session_status,
                                 payment_status="paid" if paid else "unpaid", payment_intent_id="pi_1",
                                 amount_total=amount, currency=currency, expires_at=datetime.now(UTC),
                                 metadata=metadata),
        intent=PaymentIntent(id="pi_1", status=intent_status, amount=amount,
                             amount_received=amount if intent_status == "succeeded" else 0, currency=currency,
                             latest_charge_id="ch_1", metadata=metadata),
        charge=Charge(id="ch_1", payment_intent_id="pi_1", amount=amount, amount_captured=amount,
                      amount_refunded=sum(r.amount for r in refunds), currency=currency, status="succeeded",
                      disputed=disputed),
        refunds=list(refunds),
    )


NOTHING = LedgerView(charge=None, refund_ids=frozenset(), dispute_recorded=False)
CHARGED = LedgerView(charge=(45000, "SAR"), refund_ids=frozenset(), dispute_recorded=False)


def refund(refund_id: str, amount: int, status: str = "succeeded") -> ProviderRefund:
    return ProviderRefund(id=refund_id, charge_id="ch_1", payment_intent_id="pi_1", amount=amount, currency="SAR",
                          status=status)


def test_a_capture_in_another_currency_is_reported_not_applied():
    plan = decide(candidate(), now(), view(currency="USD"), NOTHING)
    assert plan.actions == [] and [p.code for p in plan.problems] == ["currency_mismatch"]
    assert plan.problems[0].provider == {"amount": "450.00", "currency": "USD"}


def test_a_session_of_another_payment_is_reported_and_nothing_else_looked_at():
    plan = decide(candidate(), now(), view(payment_id=str(uuid.uuid4())), NOTHING)
    assert plan.actions == [] and [p.code for p in plan.problems] == ["metadata_mismatch"]


def test_capture_and_missed_refunds_are_applied_together_pending_refunds_are_not_missing():
    refunds = (refund("re_1", 10000), refund("re_2", 5000, status="pending"))
    plan = decide(candidate(), now(), view(refunds=refunds), NOTHING)
    assert plan.actions == ["apply_capture", "apply_refunds"] and plan.charge_amount == 45000
    recorded = LedgerView(charge=(45000, "SAR"), refund_ids=frozenset({"re_1"}), dispute_recorded=False)
    settled = candidate(PaymentStatus.PARTIALLY_REFUNDED, "pi_1")
    assert decide(settled, now(PaymentStatus.PARTIALLY_REFUNDED, "pi_1"), view(refunds=refunds), recorded).actions \
        == []


def test_a_dispute_the_ledger_lacks_is_reported_beside_what_can_be_fixed():
    plan = decide(candidate(), now(), view(disputed=True), NOTHING)
    assert plan.actions == ["apply_capture"] and [p.code for p in plan.problems] == ["dispute_not_recorded"]


def test_our_side_ahead_of_or_behind_the_provider_is_a_mismatch():
    succeeded = candidate(PaymentStatus.SUCCEEDED, "pi_1")
    plan = decide(succeeded, now(PaymentStatus.SUCCEEDED, "pi_1"), view(intent_status="requires_payment_method"),
                  CHARGED)
    assert [p.code for p in plan.problems] == ["status_mismatch"]
    plan = decide(succeeded, now(PaymentStatus.SUCCEEDED, "pi_1"), view(amount=40000), CHARGED)
    assert [p.code for p in plan.problems] == ["ledger_mismatch"]


def test_async_outcomes_and_a_payment_that_moved_meanwhile():
    processing = view(paid=False, intent_status="processing")
    assert decide(candidate(), now(), processing, NOTHING).actions == []
    failed = decide(candidate(), now(), view(paid=False, intent_status="requires_payment_method"), NOTHING)
    assert (failed.actions, failed.failure) == (["apply_failure"], "asynchronous payment failed")
    # A webhook settled it between the provider read and our lock: the read is stale, leave it.
    moved = decide(candidate(), now(PaymentStatus.SUCCEEDED, "pi_1"), view(), NOTHING)
    assert (moved.actions, moved.problems) == ([], [])
