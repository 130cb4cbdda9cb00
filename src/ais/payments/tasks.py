"""Periodic payment work: retry webhook events left unprocessed, submit refunds the provider
has not accepted yet, and close the checkout of holds that lapsed."""

from __future__ import annotations

from datetime import timedelta

import structlog

from ais.db.base import utcnow
from ais.payments import repository
from ais.payments.gateway import ProviderRejected, ProviderUnavailable
from ais.payments.refund_flow import retry_pending_refunds
from ais.payments.webhooks import process_event
from ais.runtime import Runtime

_log = structlog.get_logger("ais.payments.tasks")
MAX_EVENT_ATTEMPTS = 12
# An event gets its first retry this long after arrival; the delay doubles with each attempt.
FIRST_RETRY_AFTER = timedelta(seconds=30)


async def retry_unprocessed_events(runtime: Runtime) -> int:
    """Events stored but not processed (the webhook answered 500, or the process died between
    storing and processing), retried with exponential backoff on their attempt count."""
    now = utcnow()
    async with runtime.session_factory() as session:
        candidates = await repository.unprocessed_events(
            session, received_before=now - FIRST_RETRY_AFTER, max_attempts=MAX_EVENT_ATTEMPTS, limit=200)
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
    async with runtime.session_factory() as session:
        session_ids = await repository.open_checkouts_of_lapsed_holds(session, limit=200)
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
        async with runtime.session_factory() as session:
            await repository.mark_checkouts_failed(session, closed)
            await session.commit()
    return len(closed)


__all__ = ["expire_lapsed_checkouts", "retry_pending_refunds", "retry_unprocessed_events"]
