"""Sandbox-only views that Stripe keeps in its dashboard: how each event's delivery went.

`GET /events/{id}/deliveries` (mounted: `/_sandbox/events/{id}/deliveries`), with the same
Bearer secret key as the API, since attempt logs quote the receiver's answers.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ais.payments.sandbox import delivery, repository
from ais.payments.sandbox.errors import StripeError, resource_missing
from ais.payments.sandbox.rest import authenticate, request_sandbox

router = APIRouter(prefix="/events")


@router.get("/{event_id}/deliveries")
async def event_deliveries(request: Request, event_id: str) -> Response:
    sandbox = request_sandbox(request)
    try:
        authenticate(request, sandbox.config)
        async with sandbox.unit_of_work() as ctx:
            event = await repository.get_event(ctx.conn, event_id)
            if event is None:
                raise resource_missing("event", event_id)
            view = await delivery.delivery_view(ctx.conn, event_id)
    except StripeError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    if view is None:  # recorded while delivery was off
        view = {"object": "sandbox.event_delivery", "event": event_id, "url": None, "status": "disabled",
                "attempts": 0, "next_attempt_at": None, "last_status": None, "last_error": None,
                "last_attempt_at": None, "delivered_at": None, "attempt_log": []}
    return JSONResponse(view)
