"""Reconciliation (SPEC §5): our `payments` table compared with the provider, payment by payment.

Source: every pending payment, and every payment updated in the last `window` (7 days): a capture,
failure or refund the provider made may never have reached us as a webhook. For each one the
provider is asked **outside any transaction** (the Checkout Session while the payment is pending or
has no PaymentIntent; then the PaymentIntent, its Charge and refunds), up to `CONCURRENCY` payments
at once; then, in one short transaction with the booking locked, our side is read again and
`decide` (`ais.reconciliation.rules`, the pure decision) says what is missing. What is missing is
applied through the very settlement functions the webhook uses (`ais.payments.settlement`), so a
webhook that arrives afterwards adds nothing (ledger rows are unique per provider object) and one
that arrived meanwhile leaves nothing to do.

- provider paid, our ledger has no charge → `apply_capture` (`record_capture`: paid, ticketed; or,
  as for a late webhook, a late payment / automatic refund);
- session expired, or the payment failed at the provider, while ours is pending → `apply_failure`;
- succeeded refunds at the provider missing from the ledger → `apply_refunds`;
- amount or currency differ, the provider object is missing, ids or statuses disagree, a dispute
  we cannot record (the gateway exposes no dispute object) → `failed`, with `problems` in the detail;
- provider unreachable → that payment `failed` (`retryable`), the run goes on. After
  `BREAKER_AFTER` unreachable answers in a row the remaining payments are not asked (each reported
  failed, retryable) so a provider outage does not turn the run into hours of timeouts.

Counting: `scanned` = `fixed` + `failed` + `skipped`. A payment with both a fix and an unfixable
problem counts as failed (a person must look) and its detail lists the fixes too. **A dry run**
takes no lock and writes nothing (no ledger row, status, audit entry, refund or cache bump): it
runs the same `decide` and reports in `fixed` what a real run would fix, with `would_…` actions and
outcome `would_fix`, so a dry run and the real run after it give the same numbers.

This is a job-shaped service (like the webhook processor): it opens its own units of work, one
per payment (plus one to read the candidates and one for the run's audit entry), because provider
calls must never happen inside a transaction. A real run writes one
`reconciliation.run` audit entry, plus `payment.reconciled` on each booking it fixed (in that fix's
transaction). Safe to run twice at once: bookings are locked and ledger rows are unique.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from ais.audit import service as audit
from ais.audit.service import Actor
from ais.bookings import repository as bookings_repository
from ais.db.base import utcnow
from ais.db.errors import is_transient_database_error
from ais.db.unit_of_work import UnitOfWork
from ais.errors import AISError
from ais.ops.correlation import current_correlation_id
from ais.payments import repository as payments_repository
from ais.payments import settlement
from ais.payments.gateway import (
    Charge,
    CheckoutSession,
    PaymentGateway,
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
)
from ais.payments.models import PaymentStatus
from ais.reconciliation import repository
from ais.reconciliation.rules import Candidate, Current, Plan, Problem, ProviderView, decide
from ais.reconciliation.schemas import Outcome, ReconciliationDetail, ReconciliationResult
from ais.runtime import Runtime

_log = structlog.get_logger("ais.reconciliation")

DEFAULT_WINDOW = timedelta(days=7)
BREAKER_AFTER = 5  # provider unreachable this many times in a row: stop asking for this run
CONCURRENCY = 8  # provider reads in flight at once (Stripe allows far more; each read takes ~100-300 ms)
Progress = Callable[[int, int], None]
"""Called with (done, total): once with (0, total) before the first payment, then after each."""


async def fetch(gateway: PaymentGateway, candidate: Candidate) -> ProviderView:
    """The provider's side of one payment. Raises ProviderUnavailable / ProviderRejected.

    The Checkout Session is asked for while the payment is pending or we hold no PaymentIntent for
    it; a settled payment is compared by its PaymentIntent, Charge and refunds alone."""
    checkout: CheckoutSession | None = None
    intent_id = candidate.payment_intent_id
    if candidate.status == PaymentStatus.PENDING or intent_id is None:
        checkout = await gateway.retrieve_checkout_session(candidate.checkout_session_id)
        intent_id = checkout.payment_intent_id or intent_id
    intent = await gateway.retrieve_payment_intent(intent_id) if intent_id else None
    charge: Charge | None = None
    refunds: list[ProviderRefund] = []
    if intent is not None and intent.status == "succeeded" and intent.latest_charge_id:
        charge = await gateway.retrieve_charge(intent.latest_charge_id)
        if charge.amount_refunded > 0:
            refunds = await gateway.list_refunds(payment_intent_id=intent.id)
    return ProviderView(checkout=checkout, intent=intent, charge=charge, refunds=refunds)


@dataclass
class _Outcome:
    kind: str  # fixed | failed | skipped
    detail: ReconciliationDetail | None = None
    unreachable: bool = False


def _detail(candidate: Candidate, *, outcome: Outcome, action: str, actions: list[str], reason: str,
            now: Current | None = None, retryable: bool = False, problems: list[Problem] | None = None,
            payment_intent_id: str | None = None, after: tuple[str, str] | None = None) -> ReconciliationDetail:
    return ReconciliationDetail(
        payment_id=candidate.payment_id, booking_id=candidate.booking_id,
        booking_reference=candidate.booking_reference, outcome=outcome,
        action=action, actions=actions, reason=reason, retryable=retryable,
        checkout_session_id=candidate.checkout_session_id,
        payment_intent_id=payment_intent_id or candidate.payment_intent_id,
        payment_status=(now.payment_status if now else candidate.status).value,
        booking_status=(now.booking_status if now else candidate.booking_status).value,
        payment_status_after=after[0] if after else None, booking_status_after=after[1] if after else None,
        problems=[problem.as_dict() for problem in problems or []],
    )


def _failed(candidate: Candidate, action: str, reason: str, *, retryable: bool,
            unreachable: bool = False) -> _Outcome:
    return _Outcome("failed", _detail(candidate, outcome="failed", action=action, actions=[], reason=reason,
                                      retryable=retryable), unreachable=unreachable)


def _not_asked(candidate: Candidate) -> _Outcome:
    return _failed(candidate, "provider_unreachable",
                   "not asked: the provider was unreachable for the payments before this one in this run",
                   retryable=True, unreachable=True)


async def ask_provider(gateway: PaymentGateway, candidate: Candidate) -> ProviderView | _Outcome:
    """The provider's view of one payment, or the failed outcome when it cannot be had."""
    try:
        return await fetch(gateway, candidate)
    except ProviderUnavailable as exc:
        _log.warning("reconciliation_provider_unreachable", payment_id=str(candidate.payment_id), error=str(exc))
        return _failed(candidate, "provider_unreachable", f"the provider is unreachable: {exc}", retryable=True,
                       unreachable=True)
    except ProviderRejected as exc:
        _log.error("reconciliation_provider_object_missing", payment_id=str(candidate.payment_id), error=str(exc),
                   code=exc.code)
        missing = exc.code == "resource_missing"
        return _failed(candidate, "provider_object_missing" if missing else "provider_rejected",
                       f"the provider refused to show this payment: {exc}", retryable=False)
    except Exception as exc:  # an answer we cannot read: this payment fails, the run goes on
        _log.exception("reconciliation_provider_answer_unreadable", payment_id=str(candidate.payment_id))
        return _failed(candidate, "error", f"{type(exc).__name__}: {exc}"[:500], retryable=False)


async def settle(runtime: Runtime, candidate: Candidate, view: ProviderView, *, dry_run: bool,
                 actor: Actor) -> _Outcome:
    """Decide (and, unless a dry run, apply) one payment under its booking's lock. Never raises."""
    log = _log.bind(payment_id=str(candidate.payment_id), booking_id=str(candidate.booking_id))
    try:
        return await _settle(runtime, candidate, view, dry_run=dry_run, actor=actor, log=log)
    except Exception as exc:
        retryable = is_transient_database_error(exc) or (isinstance(exc, AISError) and exc.retryable)
        log.exception("reconciliation_payment_failed", error_type=type(exc).__name__)
        return _failed(candidate, "error", f"{type(exc).__name__}: {exc}"[:500], retryable=retryable)


async def _settle(runtime: Runtime, candidate: Candidate, view: ProviderView, *, dry_run: bool, actor: Actor,
                  log: Any) -> _Outcome:
    async with UnitOfWork(runtime) as uow:
        session = uow.session
        booking = None if dry_run else await bookings_repository.lock_booking(session, candidate.booking_id)
        now = await repository.current(session, candidate.payment_id)  # after the lock: as it is now
        if now is None:
            return _failed(candidate, "error", "the payment no longer exists", retryable=False)
        intent_id = view.intent.id if view.intent else now.payment_intent_id
        ledger = await repository.ledger_view(
            session, booking_id=candidate.booking_id, payment_intent_id=intent_id,
            charge_id=view.charge.id if view.charge else None, refund_ids=[r.id for r in view.refunds])
        plan = decide(candidate, now, view, ledger)
        actions = plan.actions
        if dry_run or not actions:
            return _report(candidate, plan, now, dry_run=dry_run, intent_id=intent_id, log=log)

        payment = await payments_repository.payment_by_id(session, candidate.payment_id)
        assert booking is not None and payment is not None
        if plan.capture is not None:
            c = plan.capture
            await settlement.record_capture(
                session, booking=booking, payment=payment, payment_intent_id=c.payment_intent_id,
                charge_id=c.charge_id, amount=c.amount, currency=c.currency, event_id=None, actor=actor)
        if plan.failure is not None:
            await settlement.record_failure(session, booking=booking, payment=payment, reason=plan.failure,
                                            actor=actor)
        if plan.refunds:
            await settlement.record_refunds(session, booking=booking, payment=payment,
                                            charge_amount=plan.charge_amount, refunds=plan.refunds, event_id=None,
                                            actor=actor)
        after = (payment.status.value, booking.status.value)
        audit.record(session, actor, action="payment.reconciled", resource_type="booking",
                     resource_id=str(booking.id),
                     changes={"paymentId": str(payment.id), "actions": actions,
                              "payment": [now.payment_status.value, after[0]],
                              "booking": [now.booking_status.value, after[1]]})
    # Committed; its after-commit hooks invalidated the search cache and asked the provider for an
    # automatic refund it recorded (the periodic refund job asks again if that failed).
    return _report(candidate, plan, now, dry_run=False, intent_id=intent_id, log=log, after=after)


def _report(candidate: Candidate, plan: Plan, now: Current, *, dry_run: bool, intent_id: str | None, log: Any,
            after: tuple[str, str] | None = None) -> _Outcome:
    actions = [f"would_{action}" if dry_run else action for action in plan.actions]
    if plan.problems:
        log.warning("reconciliation_mismatch", problems=[p.code for p in plan.problems], actions=actions)
        return _Outcome("failed", _detail(candidate, outcome="failed", action="mismatch", actions=actions,
                                          reason=plan.reason(), now=now, problems=plan.problems,
                                          payment_intent_id=intent_id, after=after))
    if not actions:
        return _Outcome("skipped")
    log.info("reconciliation_fix", actions=actions, dry_run=dry_run, payment_status_after=after and after[0],
             booking_status_after=after and after[1])
    return _Outcome("fixed", _detail(candidate, outcome="would_fix" if dry_run else "fixed", action=actions[0],
                                     actions=actions, reason=plan.reason(), now=now, payment_intent_id=intent_id,
                                     after=after))


async def reconcile(runtime: Runtime, *, dry_run: bool, actor: Actor, window: timedelta = DEFAULT_WINDOW,
                    booking_ids: Collection[uuid.UUID] | None = None, progress: Progress | None = None,
                    concurrency: int = CONCURRENCY, give_up_after: int = BREAKER_AFTER) -> ReconciliationResult:
    """Compare every pending or recently updated payment with the provider; fix what our records miss
    (unless `dry_run`), report what cannot be fixed. Never raises for one payment's trouble.
    `booking_ids` limits the run to those bookings' payments (support: look at one booking now).
    Up to `concurrency` payments are read from the provider at once; after `give_up_after`
    unreachable answers in a row it is not asked again in this run."""
    correlation_id = current_correlation_id()
    started_at = utcnow()
    with structlog.contextvars.bound_contextvars(correlation_id=correlation_id, reconciliation_dry_run=dry_run):
        async with UnitOfWork(runtime) as uow:  # a read: committing it changes nothing
            todo = await repository.candidates(uow.session, since=started_at - window, booking_ids=booking_ids)
        _log.info("reconciliation_started", payments=len(todo), actor=actor.label)
        if progress is not None:
            progress(0, len(todo))
        counts = {"fixed": 0, "failed": 0, "skipped": 0}
        details: list[ReconciliationDetail] = []
        unreachable_in_a_row = done = 0
        gateway = runtime.payment_gateway
        for start in range(0, len(todo), max(concurrency, 1)):
            batch = todo[start:start + max(concurrency, 1)]
            # Provider reads of a batch at once (they are slow and hold no lock); our side one by one.
            answers: list[ProviderView | _Outcome] = (
                [_not_asked(candidate) for candidate in batch] if unreachable_in_a_row >= give_up_after
                else list(await asyncio.gather(*(ask_provider(gateway, candidate) for candidate in batch))))
            for candidate, answer in zip(batch, answers, strict=True):
                outcome = answer if isinstance(answer, _Outcome) else await settle(
                    runtime, candidate, answer, dry_run=dry_run, actor=actor)
                unreachable_in_a_row = unreachable_in_a_row + 1 if outcome.unreachable else 0
                counts[outcome.kind] += 1
                if outcome.detail is not None:
                    details.append(outcome.detail)
                done += 1
                if progress is not None:
                    progress(done, len(todo))
        result = ReconciliationResult(
            correlation_id=correlation_id, started_at=started_at, completed_at=utcnow(), dry_run=dry_run,
            scanned=len(todo), details=details, **counts)
        if not dry_run:
            await _audit_run(runtime, actor, result)
        _log.info("reconciliation_done", scanned=result.scanned, fixed=result.fixed, failed=result.failed,
                  skipped=result.skipped)
    return result


async def _audit_run(runtime: Runtime, actor: Actor, result: ReconciliationResult) -> None:
    def ids(outcome: str) -> list[str]:
        return [str(d.payment_id) for d in result.details if d.outcome == outcome][:200]

    async with UnitOfWork(runtime) as uow:
        audit.record(uow.session, actor, action="reconciliation.run", resource_type="reconciliation",
                     resource_id=result.correlation_id[:64],
                     changes={"scanned": result.scanned, "fixed": result.fixed, "failed": result.failed,
                              "skipped": result.skipped, "fixedPayments": ids("fixed"),
                              "failedPayments": ids("failed")})


__all__ = ["BREAKER_AFTER", "CONCURRENCY", "DEFAULT_WINDOW", "Progress", "ask_provider", "fetch", "reconcile",
           "settle"]
