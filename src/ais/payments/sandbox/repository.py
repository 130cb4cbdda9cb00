"""All SQL on Stripe objects and events. Callers pass the connection of their unit of work.

`for_update=True` reads an object that the unit of work is about to change on the strength of
what it read (refund at most what remains, complete an open session once): on PostgreSQL the
row stays locked until commit; on SQLite the whole transaction is already serial.

The statements of the hot paths are built once, with bound parameters: building a statement
per call (and its cache key, JSON types included) cost more CPU than running it.
Bodies come back freshly decoded from JSON on every read, so callers may change them freely
and write them back as a whole."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ais.payments.sandbox.tables import deliveries, events, objects

JsonObject = dict[str, Any]


@dataclass
class StoredObject:
    body: JsonObject
    internal: JsonObject = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.body["id"])


_GET_ANY = select(objects.c.body, objects.c.internal).where(objects.c.id == bindparam("object_id"))
_GET_KIND = _GET_ANY.where(objects.c.object == bindparam("kind"))
_GETS = {  # (of one kind, for update)
    (False, False): _GET_ANY, (True, False): _GET_KIND,
    (False, True): _GET_ANY.with_for_update(), (True, True): _GET_KIND.with_for_update(),
}
_INSERT_OBJECT = insert(objects)
# The SET clause comes from the parameter names (body, internal, status, expires_at).
_UPDATE_OBJECT = update(objects).where(objects.c.id == bindparam("object_id"))
_INSERT_EVENT = insert(events)


async def get_object(conn: AsyncConnection, object_id: str, kind: str | None = None, *,
                     for_update: bool = False) -> StoredObject | None:
    query = _GETS[kind is not None, for_update]
    params = {"object_id": object_id} if kind is None else {"object_id": object_id, "kind": kind}
    row = (await conn.execute(query, params)).first()
    return None if row is None else StoredObject(row.body, row.internal)


async def insert_object(conn: AsyncConnection, stored: StoredObject) -> None:
    body = stored.body
    await conn.execute(_INSERT_OBJECT, {
        "id": body["id"], "object": body["object"], "created": body["created"], "body": body,
        "internal": stored.internal, "status": body.get("status"), "expires_at": body.get("expires_at"),
    })


async def update_object(conn: AsyncConnection, stored: StoredObject) -> None:
    body = stored.body
    await conn.execute(_UPDATE_OBJECT, {
        "object_id": body["id"], "body": body, "internal": stored.internal, "status": body.get("status"),
        "expires_at": body.get("expires_at"),
    })


async def overdue_session_ids(conn: AsyncConnection, now: int, limit: int = 100) -> list[str]:
    """Open sessions past their `expires_at`, locked; one that another unit of work holds (being
    paid or expired right now) is skipped rather than waited for."""
    query = (select(objects.c.id)
             .where(objects.c.object == "checkout.session", objects.c.status == "open",
                    objects.c.expires_at <= now)
             .order_by(objects.c.expires_at).limit(limit)
             .with_for_update(skip_locked=True))
    return list((await conn.execute(query)).scalars())


async def insert_events(conn: AsyncConnection, bodies: list[JsonObject]) -> None:
    """In the order given (their `seq`, hence the order `GET /v1/events` lists them)."""
    await conn.execute(_INSERT_EVENT, [{"id": body["id"], "type": body["type"], "created": body["created"],
                                        "body": body} for body in bodies])


async def event_seq(conn: AsyncConnection, event_id: str) -> int | None:
    seq = (await conn.execute(select(events.c.seq).where(events.c.id == event_id))).scalar()
    return int(seq) if seq is not None else None


async def get_event(conn: AsyncConnection, event_id: str) -> JsonObject | None:
    rows = await _with_pending(conn, select(events.c.body, events.c.id).where(events.c.id == event_id))
    return rows[0] if rows else None


@dataclass(frozen=True)
class EventFilter:
    type_patterns: list[str]  # `charge.*`: `*` matches anything
    limit: int
    starting_after: int | None = None  # seq of the cursor event
    ending_before: int | None = None
    created: dict[str, int] = field(default_factory=dict)  # gt / gte / lt / lte


async def list_events(conn: AsyncConnection, flt: EventFilter) -> tuple[list[JsonObject], bool]:
    """Newest first, `limit` of them, and whether more exist past the page."""
    conditions: list[Any] = []
    if flt.type_patterns:
        conditions.append(or_(*(events.c.type.like(_like(pattern), escape="\\") for pattern in flt.type_patterns)))
    operators = {"gt": events.c.created.__gt__, "gte": events.c.created.__ge__,
                 "lt": events.c.created.__lt__, "lte": events.c.created.__le__}
    conditions.extend(operators[op](value) for op, value in flt.created.items())
    query = select(events.c.body, events.c.id, events.c.seq).where(*conditions)
    if flt.ending_before is not None:
        # The page just before (newer than) the cursor: the closest ones, shown newest first.
        query = query.where(events.c.seq > flt.ending_before).order_by(events.c.seq.asc())
        rows = await _with_pending(conn, query.limit(flt.limit + 1))
        has_more = len(rows) > flt.limit
        return list(reversed(rows[: flt.limit])), has_more
    if flt.starting_after is not None:
        query = query.where(events.c.seq < flt.starting_after)
    rows = await _with_pending(conn, query.order_by(events.c.seq.desc()).limit(flt.limit + 1))
    return rows[: flt.limit], len(rows) > flt.limit


def _like(pattern: str) -> str:
    """A Stripe event-type pattern (`charge.*`) as a LIKE pattern, `_` and `%` taken literally."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


async def _with_pending(conn: AsyncConnection, query: Any) -> list[JsonObject]:
    """Event bodies with `pending_webhooks` as it is now (1 while a delivery is pending)."""
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    ids = [row.id for row in rows]
    pending_query = select(deliveries.c.event_id).where(deliveries.c.event_id.in_(ids),
                                                        deliveries.c.status == "pending")
    pending = set((await conn.execute(pending_query)).scalars())
    result = []
    for row in rows:
        body = row.body
        body["pending_webhooks"] = 1 if row.id in pending else 0
        result.append(body)
    return result


async def list_refunds(conn: AsyncConnection, *, charge: str | None, payment_intent: str | None,
                       limit: int) -> tuple[list[JsonObject], bool]:
    """Refunds newest first, optionally of one charge or payment intent (as `GET /v1/refunds`)."""
    query = select(objects.c.body).where(objects.c.object == "refund")
    if charge is not None:
        query = query.where(objects.c.body["charge"].as_string() == charge)
    if payment_intent is not None:
        query = query.where(objects.c.body["payment_intent"].as_string() == payment_intent)
    rows = (await conn.execute(query.order_by(objects.c.created.desc(), objects.c.id.desc()).limit(limit + 1))).all()
    return [row.body for row in rows[:limit]], len(rows) > limit
