"""Payment jobs: retry webhook events left unprocessed, submit refunds the provider has not
accepted yet (one `submit_refund` job each, retried with backoff like any job), and close the
checkout of holds that lapsed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog

from ais.db.base import utcnow
from ais.db.unit_of_work import UnitOfWork
from ais.payments import refund_flow, repository
from ais.payments.gateway import ProviderRejected, ProviderUnavailable
from ais.payments.models import RefundStatus
from ais.payments.webhooks import process_event
from ais.runtime import Runtime

_log = structlog.get_logger("ais.payments.tasks")
MAX_EVENT_ATTEMPTS = 12
# An event gets its first retry this long after arrival; the delay doubles with each attempt.
FIRST_RETRY_AFTER = timedelta(seconds=30)
SUBMIT_REFUND = "submit_refund"
# The sweep gives a refund a job if it was recorded this recently and is still pending: long enough
# for one recorded by a process that died before its after-commit submission, shorter than the
# job's own retries (a refund whose job gave up stays pending and its job `failed`, for staff).
SWEEP_REFUNDS_RECORDED_WITHIN = timedelta(hours=6)


class RefundNotAccepted(Exception):
    """The provider did not take the refund (down or slow): the job is retried with backoff."""


async def retry_unprocessed_events(runtime: Runtime) -> int:
    """Events stored but not processed (the webhook answered 500, or the process died between
    storing and processing), retried with exponential backoff on their attempt count."""
    now = utcnow()
    async with UnitOfWork(runtime) as uow:
        candidates = await repository.unprocessed_events(
            uow.session, received_before=now - FIRST_RETRY_AFTER, max_attempts=MAX_EVENT_ATTEMPTS, limit=200)
    done = 0
    for event_id, attempts, received_at in candidates:
        if received_at + FIRST_RETRY_AFTER * (2 ** max(attempts - 1, 0)) > now:
            continue  # not due yet
        done += await process_event(runtime, event_id)
    return done


async def expire_lapsed_checkouts(runtime: Runtime) -> int:
    """Close the provider's checkout of bookings whose hold lapsed or was cancelled, so a passenger
    cannot pay for seats that went back on sale (a payment that still slips through is a late
    payment, or refunded as paid after cancellation)."""
    async with UnitOfWork(runtime) as uow:
        session_ids = await repository.open_checkouts_of_lapsed_holds(uow.session, limit=200)
    closed: list[str] = []
    for session_id in session_ids:
        try:
            await runtime.payment_gateway.expire_checkout_session(session_id)
        except ProviderRejected:
            pass  # already complete or expired at the provider: its event (or reconciliation) says which
        except ProviderUnavailable:
            _log.warning("checkout_expiry_deferred", session_id=session_id)
            break
        closed.append(session_id)
    if closed:
        # No longer payable here. Should money still arrive, the capture is a late payment.
        async with UnitOfWork(runtime) as uow:
            await repository.mark_checkouts_failed(uow.session, closed)
    return len(closed)


def refund_lock(refund_id: uuid.UUID | str) -> str:
    return f"{SUBMIT_REFUND}:{refund_id}"


async def submit_refund(runtime: Runtime, refund_id: uuid.UUID | str) -> int:
    """The `submit_refund` job: ask the provider for one recorded refund (always with the refund's
    own idempotency key, so asking twice refunds once). 1 when the provider accepted (or refused
    for good) now, 0 when there was nothing to do; raises RefundNotAccepted to be retried."""
    refund_id = uuid.UUID(str(refund_id))
    refund = await refund_flow.submit_refund(runtime, refund_id)
    async with UnitOfWork(runtime) as uow:
        current = await repository.refund_by_id(uow.session, refund_id)
    if current is None:
        return 0
    if current.status == RefundStatus.PENDING:
        raise RefundNotAccepted(f"the provider did not accept refund {refund_id} (unreachable or slow)")
    return int(refund is not None)


async def retry_pending_refunds(runtime: Runtime) -> int:
    """Defer a `submit_refund` job for every refund still pending (recorded recently, not yet
    accepted by the provider): the refund's own job retries it with backoff; one waits per refund
    at most (its queueing lock)."""
    async with UnitOfWork(runtime) as uow:
        ids = await repository.pending_refund_ids_recorded_since(
            uow.session, utcnow() - SWEEP_REFUNDS_RECORDED_WITHIN, limit=200)
    for refund_id in ids:
        await runtime.defer(SUBMIT_REFUND, queueing_lock=refund_lock(refund_id), refund_id=str(refund_id))
    return len(ids)


__all__ = ["SUBMIT_REFUND", "expire_lapsed_checkouts", "retry_pending_refunds", "retry_unprocessed_events",
           "submit_refund"]
