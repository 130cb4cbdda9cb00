"""The unit-of-work context and the one way state changes become events."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from ais.payments.sandbox import delivery, objects, repository
from ais.payments.sandbox.config import SandboxConfig
from ais.payments.sandbox.ids import new_id

JsonObject = objects.JsonObject


@dataclass
class Context:
    """What an operation works with: its connection, the sandbox's settings, the business
    time of the request, and the API request (if any) that caused its events."""

    conn: AsyncConnection
    config: SandboxConfig
    now: int
    request_id: str | None = None
    idempotency_key: str | None = None
    events_recorded: int = 0
    # Recorded by `emit`, written by `flush_events` (all of them in two statements) before the
    # unit of work commits.
    unwritten: list[JsonObject] = field(default_factory=list)


async def emit(ctx: Context, event_type: str, data_object: JsonObject, *,
               previous_attributes: JsonObject | None = None, automatic: bool = False) -> None:
    """Record an event carrying a snapshot of `data_object` as it is now, and schedule its
    delivery when delivery is on; both are written by `flush_events`, in the same transaction.
    `automatic` events (expiry by the clock, the hosted page) carry
    `request: {id: null, idempotency_key: null}` as Stripe's do."""
    delivering = ctx.config.delivery == "on"
    body = objects.event(
        event_id=new_id("event"),
        api_version=ctx.config.api_version,
        created=ctx.now,
        event_type=event_type,
        data_object=json.loads(json.dumps(data_object)),  # a snapshot: JSON data, copied fast
        previous_attributes=previous_attributes,
        pending_webhooks=1 if delivering else 0,
        request_id=None if automatic else ctx.request_id,
        idempotency_key=None if automatic else ctx.idempotency_key,
    )
    ctx.unwritten.append(body)
    ctx.events_recorded += 1


async def flush_events(ctx: Context) -> None:
    """Write the events recorded so far, in order, with their deliveries when delivery is on."""
    if not ctx.unwritten:
        return
    bodies, ctx.unwritten = ctx.unwritten, []
    await repository.insert_events(ctx.conn, bodies)
    if ctx.config.delivery == "on":
        await delivery.schedule(ctx.conn, [body["id"] for body in bodies], ctx.config.effective_webhook_url,
                                due_at=time.time())


def discard_events(ctx: Context) -> None:
    """Forget events not yet written: the work that recorded them was rolled back."""
    ctx.events_recorded -= len(ctx.unwritten)
    ctx.unwritten.clear()


def changed(before: JsonObject, after: JsonObject, *keys: str) -> JsonObject:
    """`previous_attributes`: the old values of those `keys` that changed."""
    return {key: before.get(key) for key in keys if before.get(key) != after.get(key)}
