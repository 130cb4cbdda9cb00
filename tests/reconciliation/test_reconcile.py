"""Reconciliation (SPEC §5) against the live sandbox: what the provider did while no webhook reached
us is applied through the webhook's own settlement, a dry run changes nothing, mismatches are
reported, and a late webhook afterwards adds nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from ais.audit.models import AuditEntry
from ais.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from ais.reconciliation.service import reconcile
from ais.wiring import create_runtime
from tests.factories import book, new_flight, new_user
from tests.fixtures.payment_flow import booking_events, deliver, open_checkout, paid_booking, wait_for_status
from tests.payments.sandbox.serving import unused_url
from tests.reconciliation.support import (
    ACTOR,
    assert_counts_add_up,
    checkout_paid_at_provider,
    detail_for,
    history,
    ledger_rows,
    payment_of,
    snapshot,
)


async def test_missed_capture_dry_run_changes_nothing_real_run_confirms_late_webhook_adds_nothing(
        http, live, sdk, runtime, live_runtime):
    user = await new_user(http)
    booking, checkout = await checkout_paid_at_provider(http, runtime, user, economy_fare_minor=61725)
    assert (await wait_for_status(http, user, booking["id"], "pending", timeout=0))["status"] == "pending"
    assert (await payment_of(live_runtime, booking["id"])).status == PaymentStatus.PENDING

    # The dry run reports it and changes nothing at all (the admin-route test repeats this over every
    # payment in the database).
    scope = [uuid.UUID(booking["id"])]
    before = await snapshot(live_runtime)
    seen: list[tuple[int, int]] = []
    dry = await reconcile(live_runtime, dry_run=True, actor=ACTOR, booking_ids=scope,
                          progress=lambda done, total: seen.append((done, total)))
    assert await snapshot(live_runtime) == before
    assert (dry.dry_run, dry.scanned, dry.fixed, dry.failed, dry.skipped) == (True, 1, 1, 0, 0)
    assert_counts_add_up(dry)
    assert seen == [(0, 1), (1, 1)]
    would = detail_for(dry, booking["id"])
    assert would is not None
    assert (would.outcome, would.action, would.actions) == ("would_fix", "would_apply_capture",
                                                            ["would_apply_capture"])
    assert (would.payment_status, would.booking_status) == ("pending", "pending")
    assert would.payment_status_after is None and would.checkout_session_id == checkout["sessionId"]
    assert would.payment_intent_id and would.payment_intent_id.startswith("pi_")

    # The real run applies the capture exactly as the webhook would have.
    real = await reconcile(live_runtime, dry_run=False, actor=ACTOR, booking_ids=scope)
    assert (real.scanned, real.fixed, real.failed, real.skipped) == (1, 1, 0, 0)
    [fixed] = real.details
    assert (fixed.outcome, fixed.action, fixed.actions) == ("fixed", "apply_capture", ["apply_capture"])
    assert (fixed.payment_status_after, fixed.booking_status_after) == ("succeeded", "confirmed")
    confirmed = await wait_for_status(http, user, booking["id"], "confirmed", timeout=0)
    assert confirmed["status"] == "confirmed" and all(p["ticketNumber"] for p in confirmed["passengers"])
    assert [h["to"] for h in confirmed["statusHistory"]] == ["reserved", "pending", "paid", "confirmed"]
    assert await ledger_rows(live_runtime, booking["id"]) == [("charge", 61725)]
    payment = await payment_of(live_runtime, booking["id"])
    assert payment.status == PaymentStatus.SUCCEEDED and payment.payment_intent_id == fixed.payment_intent_id
    assert payment.charge_id and payment.charge_id.startswith("ch_")
    async with live_runtime.session_factory() as session:
        audits = (await session.scalars(select(AuditEntry).where(
            AuditEntry.correlation_id == real.correlation_id).order_by(AuditEntry.created_at))).all()
    by_action = {entry.action: entry for entry in audits}
    assert by_action["payment.reconciled"].resource_id == booking["id"]
    assert by_action["payment.reconciled"].changes["actions"] == ["apply_capture"]
    run = by_action["reconciliation.run"]
    assert (run.actor_role, run.resource_id) == ("test_reconcile", real.correlation_id)
    assert run.changes["fixed"] == 1 and run.changes["fixedPayments"] == [str(payment.id)]

    # The webhook arrives late (twice, even): the ledger already holds the charge, nothing moves.
    changes = await history(live_runtime, booking["id"])
    events = await booking_events(sdk, booking["id"])
    assert {"checkout.session.completed", "payment_intent.succeeded"} <= {e["type"] for e in events}
    for event in events + events:
        assert (await deliver(http, live, event)).status_code == 200
    assert await ledger_rows(live_runtime, booking["id"]) == [("charge", 61725)]
    assert await history(live_runtime, booking["id"]) == changes
    assert (await payment_of(live_runtime, booking["id"])).status == PaymentStatus.SUCCEEDED

    again = await reconcile(live_runtime, dry_run=False, actor=ACTOR, booking_ids=scope)
    assert (again.scanned, again.fixed, again.failed, again.skipped, again.details) == (1, 0, 0, 1, [])


async def test_a_session_expired_at_the_provider_fails_the_pending_payment(http, sdk, runtime, live_runtime):
    user = await new_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    checkout = await open_checkout(http, user, booking["id"])
    await sdk.v1.checkout.sessions.expire_async(checkout["sessionId"])  # its event is never delivered
    scope = [uuid.UUID(booking["id"])]

    dry = await reconcile(live_runtime, dry_run=True, actor=ACTOR, booking_ids=scope)
    assert [(d.action, d.reason) for d in dry.details] == [
        ("would_apply_failure", "checkout expired at the provider; our payment is still pending")]
    assert (await payment_of(live_runtime, booking["id"])).status == PaymentStatus.PENDING

    real = await reconcile(live_runtime, dry_run=False, actor=ACTOR, booking_ids=scope)
    [detail] = real.details
    assert (detail.action, detail.payment_status_after, detail.booking_status_after) == (
        "apply_failure", "failed", "payment_failed")
    assert (await payment_of(live_runtime, booking["id"])).status == PaymentStatus.FAILED
    failed = await wait_for_status(http, user, booking["id"], "payment_failed", timeout=0)
    assert failed["statusHistory"][-1]["reason"] == "checkout expired"
    assert await ledger_rows(live_runtime, booking["id"]) == []
    # The hold still stands: the passenger may pay again, with a new attempt.
    retry = await open_checkout(http, user, booking["id"])
    assert retry["sessionId"] != checkout["sessionId"]


async def test_a_declined_card_without_webhook_marks_the_attempt_failed(http, runtime, live_runtime):
    user = await new_user(http)
    booking, _ = await checkout_paid_at_provider(http, runtime, user, outcome="declined")
    real = await reconcile(live_runtime, dry_run=False, actor=ACTOR, booking_ids=[uuid.UUID(booking["id"])])
    [detail] = real.details
    assert (detail.action, detail.booking_status_after) == ("apply_failure", "payment_failed")
    assert (await wait_for_status(http, user, booking["id"], "payment_failed", timeout=0))["status"] == \
        "payment_failed"


async def test_refunds_made_at_the_provider_without_webhook_reach_the_ledger(http, live, sdk, runtime,
                                                                               live_runtime):
    user = await new_user(http)
    flight = await new_flight(runtime, departs_in=timedelta(days=5))
    booking = await paid_booking(http, live, sdk, runtime, user, flight)
    assert booking["status"] == "confirmed"
    payment = await payment_of(live_runtime, booking["id"])
    assert payment.payment_intent_id
    scope = [uuid.UUID(booking["id"])]

    # A partial refund in the provider's dashboard; its charge.refunded never reaches us.
    partial = await sdk.v1.refunds.create_async(params={"payment_intent": payment.payment_intent_id,
                                                        "amount": 10000})
    dry = await reconcile(live_runtime, dry_run=True, actor=ACTOR, booking_ids=scope)
    assert [d.actions for d in dry.details] == [["would_apply_refunds"]]
    assert await ledger_rows(live_runtime, booking["id"]) == [("charge", 45000)]

    real = await reconcile(live_runtime, dry_run=False, actor=ACTOR, booking_ids=scope)
    [detail] = real.details
    assert (detail.action, detail.payment_status_after, detail.booking_status_after) == (
        "apply_refunds", "partially_refunded", "confirmed")
    assert await ledger_rows(live_runtime, booking["id"]) == [("charge", 45000), ("partial_refund", 10000)]
    async with live_runtime.session_factory() as session:
        [row] = (await session.scalars(select(Refund).where(Refund.booking_id == uuid.UUID(booking["id"])))).all()
    assert (row.provider_refund_id, row.status, row.amount_minor) == (partial.id, RefundStatus.SUCCEEDED, 10000)

    # The rest, refunded at the provider too: the booking is refunded, once.
    await sdk.v1.refunds.create_async(params={"payment_intent": payment.payment_intent_id})
    real = await reconcile(live_runtime, dry_run=False, actor=ACTOR, booking_ids=scope)
    assert [(d.action, d.payment_status_after, d.booking_status_after) for d in real.details] == [
        ("apply_refunds", "refunded", "refunded")]
    assert sorted(await ledger_rows(live_runtime, booking["id"])) == [
        ("charge", 45000), ("partial_refund", 10000), ("partial_refund", 35000)]
    # The late charge.refunded events change nothing.
    for event in await booking_events(sdk, booking["id"], types=("charge.refunded",)):
        assert (await deliver(http, live, event)).status_code == 200
    assert len(await ledger_rows(live_runtime, booking["id"])) == 3
    again = await reconcile(live_runtime, dry_run=False, actor=ACTOR, booking_ids=scope)
    assert (again.fixed, again.failed, again.skipped) == (0, 0, 1)


async def test_what_cannot_be_fixed_is_reported_and_left_alone(http, runtime, live_runtime):
    user = await new_user(http)
    # Our record says another amount than the provider captured.
    differs, _ = await checkout_paid_at_provider(http, runtime, user)
    # Our record names a Checkout Session the provider does not know.
    unknown, _ = await checkout_paid_at_provider(http, runtime, user)
    async with live_runtime.session_factory() as session:
        await session.execute(update(Payment).where(Payment.booking_id == uuid.UUID(differs["id"]))
                              .values(amount_minor=44000))
        await session.execute(update(Payment).where(Payment.booking_id == uuid.UUID(unknown["id"]))
                              .values(checkout_session_id=f"cs_test_missing_{uuid.uuid4().hex}"))
        await session.commit()
    scope = [uuid.UUID(differs["id"]), uuid.UUID(unknown["id"])]
    before = await snapshot(live_runtime)

    result = await reconcile(live_runtime, dry_run=False, actor=ACTOR, booking_ids=scope)
    assert (result.scanned, result.fixed, result.failed, result.skipped) == (2, 0, 2, 0)
    mismatch, missing = detail_for(result, differs["id"]), detail_for(result, unknown["id"])
    assert mismatch is not None and missing is not None
    assert (mismatch.outcome, mismatch.action, mismatch.actions, mismatch.retryable) == (
        "failed", "mismatch", [], False)
    assert mismatch.problems == [{"code": "amount_mismatch", "message": "the provider captured another amount",
                                  "ours": {"amount": "440.00", "currency": "SAR"},
                                  "provider": {"amount": "450.00", "currency": "SAR"}}]
    assert (missing.action, missing.retryable) == ("provider_object_missing", False)
    after = await snapshot(live_runtime)
    # Nothing applied: only the run's own audit entry was written.
    assert after["counts"] == {**before["counts"], "audit_log": before["counts"]["audit_log"] + 1}
    assert {k: v for k, v in after.items() if k != "counts"} == {k: v for k, v in before.items() if k != "counts"}


async def test_an_unreachable_provider_fails_each_payment_retryably_and_the_run_goes_on(http, runtime, live):
    user = await new_user(http)
    bookings = [(await checkout_paid_at_provider(http, runtime, user))[0] for _ in range(3)]
    down = create_runtime(live.settings.model_copy(update={"stripe_api_base": unused_url()}))
    try:
        result = await reconcile(down, dry_run=False, actor=ACTOR, concurrency=1, give_up_after=2,
                                 booking_ids=[uuid.UUID(b["id"]) for b in bookings])
    finally:
        await down.close()
    assert (result.scanned, result.fixed, result.failed, result.skipped) == (3, 0, 3, 0)
    assert [(str(d.booking_id), d.action, d.retryable, d.booking_status) for d in result.details] == [
        (b["id"], "provider_unreachable", True, "pending") for b in bookings]
    asked = [d.reason for d in result.details if d.reason.startswith("the provider is unreachable")]
    assert len(asked) == 2  # then it stopped asking: an outage does not cost a timeout per payment
    assert result.details[2].reason.startswith("not asked")
    for booking in bookings:
        assert (await payment_of(runtime, booking["id"])).status == PaymentStatus.PENDING


