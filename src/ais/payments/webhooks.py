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

from ais.cache.search_cache import invalidate_if_marked
from ais.db.base import utcnow
from ais.openapi_errors import responses
from ais.ops.errors_http import error_body, is_transient_database_error
from ais.ops.metrics import WEBHOOK_EVENTS
from ais.payments import events, repository
from ais.payments.gateway import InvalidSignature, ProviderUnavailable
from ais.payments.refund_flow import refunds_were_recorded, submit_pending_refunds
from ais.runtime import Runtime

_log = structlog.get_logger("ais.payments.webhooks")
router = APIRouter(tags=["webhooks"])
MAX_BODY_BYTES = 512 * 1024


@router.post("/webhooks/stripe", summary="Stripe events (raw body, Stripe-Signature)",
             responses=responses("INVALID_SIGNATURE"))
async def stripe_webhook(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    payload = await request.body()
    if len(payload) > MAX_BODY_BYTES:
        return _error(400, "INVALID_SIGNATURE", "The event is too large to be a Stripe event.")
    if not _is_utf8(payload):  # Stripe sends UTF-8 JSON; the SDK's check would crash on anything else
        WEBHOOK_EVENTS.labels("unknown", "bad_signature").inc()
        _log.warning("webhook_bad_signature", reason="body is not UTF-8")
        return _error(400, "INVALID_SIGNATURE", "The event body is not UTF-8, so it cannot be a Stripe event.")
    try:
        event = runtime.payment_gateway.verify_event(payload, request.headers.get("stripe-signature"))
    except InvalidSignature as exc:
        WEBHOOK_EVENTS.labels("unknown", "bad_signature").inc()
        _log.warning("webhook_bad_signature", reason=str(exc))
        return _error(400, "INVALID_SIGNATURE", "The Stripe-Signature header is missing or does not verify.")
    structlog.contextvars.bind_contextvars(stripe_event_id=event.id, stripe_event_type=event.type)
    async with runtime.session_factory() as session:
        first_delivery = await repository.store_event(session, event_id=event.id, event_type=event.type,
                                                      payload=event.raw, now=utcnow())
        await session.commit()
        if not first_delivery and await repository.event_processed(session, event.id):
            WEBHOOK_EVENTS.labels(event.type, "duplicate").inc()  # answered without taking any lock
            return JSONResponse({"received": True, "id": event.id})
    if await process_event(runtime, event.id, event_type=event.type, payload=event.raw):
        return JSONResponse({"received": True, "id": event.id})
    return _error(500, "INTERNAL_ERROR", "The event could not be processed; it will be retried.")


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message, retryable=status >= 500), status_code=status)


async def process_event(runtime: Runtime, event_id: str, *, event_type: str | None = None,
                        payload: dict[str, Any] | None = None) -> bool:
    """Apply one stored event exactly once. True when it is processed (now or earlier)."""
    if event_type is None or payload is None:
        async with runtime.session_factory() as session:
            stored = await repository.get_event(session, event_id)
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
        async with runtime.session_factory() as session:
            stored = await repository.lock_event(session, event_id)
            if stored is None or stored.processed:
                return stored is not None
            if handler is not None:
                await handler(session, data_object, event_id, prefetched)
            stored.processed = True
            stored.processed_at = utcnow()
            stored.attempts += 1
            stored.last_error = None
            await session.commit()
            await invalidate_if_marked(session, runtime.store)
            refunds_recorded = refunds_were_recorded(session)
    except Exception as exc:
        await _record_failure(runtime, event_id, exc)
        WEBHOOK_EVENTS.labels(event_type, "failed").inc()
        return False
    WEBHOOK_EVENTS.labels(event_type, "processed" if handler else "ignored").inc()
    if refunds_recorded:  # an automatic refund (late or double payment) was recorded: ask for it now
        await submit_pending_refunds(runtime)
    return True


async def _record_failure(runtime: Runtime, event_id: str, exc: Exception) -> None:
    expected = isinstance(exc, ProviderUnavailable) or is_transient_database_error(exc)
    log = _log.warning if expected else _log.exception
    log("webhook_processing_failed", error_type=type(exc).__name__)
    try:
        async with runtime.session_factory() as session:
            await repository.record_event_failure(session, event_id, f"{type(exc).__name__}: {exc}")
            await session.commit()
    except Exception:
        _log.exception("webhook_failure_not_recorded")
