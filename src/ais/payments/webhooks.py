"""`POST /webhooks/stripe` and the inbox (SPEC §5).

The raw body is verified (400 and nothing stored when the signature is missing, wrong, stale or
tampered). The event is stored before processing; only `processed=true` stops a retry.
Processing and marking processed commit together, under a lock on the inbox row, so concurrent
deliveries of one event apply it once. 200 when processed (now or before), 500 when processing
failed so that Stripe delivers it again."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ais.audit import service as audit
from ais.audit.service import Actor
from ais.db.base import utcnow
from ais.db.errors import is_transient_database_error
from ais.db.unit_of_work import UnitOfWork
from ais.errors import InvalidSignature, NotFound
from ais.http.dependencies import RuntimeDep
from ais.http.errors import error_response, responses
from ais.ops.metrics import WEBHOOK_EVENTS
from ais.payments import events, repository
from ais.payments.gateway import ProviderEventData, ProviderUnavailable
from ais.payments.models import ProviderEvent
from ais.runtime import Runtime

_log = structlog.get_logger("ais.payments.webhooks")
router = APIRouter(tags=["webhooks"])
MAX_BODY_BYTES = 512 * 1024


@router.post("/webhooks/stripe", summary="Stripe events (raw body, Stripe-Signature)",
             responses=responses("INVALID_SIGNATURE"))
async def stripe_webhook(request: Request, runtime: RuntimeDep) -> Response:
    payload = await request.body()
    if len(payload) > MAX_BODY_BYTES:
        return error_response(400, "INVALID_SIGNATURE", "The event is too large to be a Stripe event.")
    if not _is_utf8(payload):  # Stripe sends UTF-8 JSON; the SDK's check would crash on anything else
        WEBHOOK_EVENTS.labels("unknown", "bad_signature").inc()
        _log.warning("webhook_bad_signature", reason="body is not UTF-8")
        return error_response(400, "INVALID_SIGNATURE",
                              "The event body is not UTF-8, so it cannot be a Stripe event.")
    try:
        event = runtime.payment_gateway.verify_event(payload, request.headers.get("stripe-signature"))
    except InvalidSignature as exc:
        WEBHOOK_EVENTS.labels("unknown", "bad_signature").inc()
        _log.warning("webhook_bad_signature", reason=str(exc))
        return error_response(400, "INVALID_SIGNATURE", "The Stripe-Signature header is missing or does not verify.")
    structlog.contextvars.bind_contextvars(stripe_event_id=event.id, stripe_event_type=event.type)
    if await receive(runtime, event):
        return JSONResponse({"received": True, "id": event.id})
    return error_response(500, "INTERNAL_ERROR", "The event could not be processed; it will be retried.")


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def receive(runtime: Runtime, event: ProviderEventData) -> bool:
    """The inbox: store the event, then process it. Two transactions by design: the event is
    stored and committed first (`uow.commit()`), so a crash or a failed processing leaves it for
    the retry job; a duplicate of a processed event is answered without taking any lock. True
    when the event is processed (now or earlier)."""
    async with UnitOfWork(runtime) as uow:
        first_delivery = await repository.store_event(uow.session, event_id=event.id, event_type=event.type,
                                                      payload=event.raw, now=utcnow())
        await uow.commit()
        if not first_delivery and await repository.event_processed(uow.session, event.id):
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
            stored = await repository.lock_event(uow.session, event_id)
            if stored is None or stored.processed:
                return stored is not None
            if handler is not None:
                await handler(uow.session, data_object, event_id, prefetched)
            stored.processed = True
            stored.processed_at = utcnow()
            stored.attempts += 1
            stored.last_error = None
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
