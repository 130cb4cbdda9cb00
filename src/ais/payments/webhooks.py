"""The webhook inbox (SPEC §5); the route in front of it, `POST /webhooks/stripe`, is in
`payments/routes.py` and verifies the raw body first.

The event is stored before processing; only `processed=true` stops a retry. Processing and
marking processed commit together, under a lock on the inbox row, so concurrent deliveries of
one event apply it once; the retry job (`payments/tasks.py`) and staff replays go through
`process_event` too."""

from __future__ import annotations

from typing import Any

import structlog

from ais.audit import service as audit
from ais.audit.service import Actor
from ais.db.base import utcnow
from ais.db.errors import is_transient_database_error
from ais.db.unit_of_work import UnitOfWork
from ais.errors import NotFound
from ais.ops.metrics import WEBHOOK_EVENTS
from ais.payments import events, repository
from ais.payments.gateway import ProviderEventData, ProviderUnavailable
from ais.payments.models import ProviderEvent
from ais.runtime import Runtime

_log = structlog.get_logger("ais.payments.webhooks")


async def receive(runtime: Runtime, event: ProviderEventData) -> bool:
    """The inbox: store the event, then process it. The event is stored by a statement that
    commits on its own, before any processing: a crash or a failed processing leaves it for the
    retry job. A duplicate of a processed event is answered from what that statement read (one
    more read on SQLite), without a transaction or a lock (half of a webhook storm is such
    duplicates). True when the event is processed (now or earlier)."""
    async with runtime.autocommit_session_factory() as session:
        already_processed = await repository.store_delivery(session, event_id=event.id, event_type=event.type,
                                                            payload=event.raw, now=utcnow())
        if already_processed:
            WEBHOOK_EVENTS.labels(event.type, "duplicate").inc()
            return True
    return await process_event(runtime, event.id, event_type=event.type, payload=event.raw)


async def process_event(runtime: Runtime, event_id: str, *, event_type: str | None = None,
                        payload: dict[str, Any] | None = None) -> bool:
    """Apply one stored event exactly once, in one unit of work under the inbox row's lock. True
    when it is processed (now or earlier). What its commit must be followed by (a search cache
    invalidation, asking the provider for an automatic refund) is registered by the settlement
    as after-commit hooks."""
    if event_type is None or payload is None:
        async with UnitOfWork(runtime) as uow:
            stored = await repository.get_event(uow.session, event_id)
            if stored is None:
                return False
            if stored.processed:
                WEBHOOK_EVENTS.labels(stored.type, "duplicate").inc()
                return True
            event_type, payload = stored.type, dict(stored.payload)
    data: Any = payload.get("data") or {}
    data_object: dict[str, Any] = dict(data.get("object") or {})
    handler = events.HANDLERS.get(event_type)
    try:
        prefetched = await events.prefetch(runtime.payment_gateway, event_type, data_object)
        async with UnitOfWork(runtime) as uow:
            # Marked first, committed with what the handler writes: the mark is also the lock
            # that makes a concurrent delivery of this event wait, then find it processed.
            if not await repository.mark_processed(uow.session, event_id, utcnow()):
                return await repository.event_exists(uow.session, event_id)
            if handler is not None:
                await handler(uow.session, data_object, event_id, prefetched)
    except Exception as exc:
        await _record_failure(runtime, event_id, exc)
        WEBHOOK_EVENTS.labels(event_type, "failed").inc()
        return False
    WEBHOOK_EVENTS.labels(event_type, "processed" if handler else "ignored").inc()
    return True


async def _record_failure(runtime: Runtime, event_id: str, exc: Exception) -> None:
    expected = isinstance(exc, ProviderUnavailable) or is_transient_database_error(exc)
    log = _log.warning if expected else _log.exception
    log("webhook_processing_failed", error_type=type(exc).__name__)
    try:
        async with UnitOfWork(runtime) as uow:
            await repository.record_event_failure(uow.session, event_id, f"{type(exc).__name__}: {exc}")
    except Exception:
        _log.exception("webhook_failure_not_recorded")


async def replay_event(runtime: Runtime, event_id: str, *, actor: Actor) -> ProviderEvent:
    """Staff process a stored event again if it is not processed yet (a processed one is left
    alone); audited. NotFound for an unknown id. Short units of work of its own around
    `process_event`, which locks the inbox row in a transaction of its own."""
    async with UnitOfWork(runtime) as uow:
        if await repository.get_event(uow.session, event_id) is None:
            raise NotFound("No such event.")
    await process_event(runtime, event_id)
    async with UnitOfWork(runtime) as uow:
        stored = await repository.get_event(uow.session, event_id)
        assert stored is not None
        audit.record(uow.session, actor, action="webhook.replay", resource_type="provider_event",
                     resource_id=event_id, changes={"processed": stored.processed, "attempts": stored.attempts})
    return stored
