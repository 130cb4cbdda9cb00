"""`expand[]=…`: replace an id in a response by the object it names (dotted paths nest)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from ais.payments.sandbox import objects, repository
from ais.payments.sandbox.errors import param_error

JsonObject = objects.JsonObject
MAX_DEPTH = 4

# Which fields of which objects can be expanded, and the kind of object they name.
EXPANDABLE: dict[str, dict[str, str]] = {
    "checkout.session": {"payment_intent": "payment_intent", "line_items": "line_items"},
    "payment_intent": {"latest_charge": "charge"},
    "charge": {"payment_intent": "payment_intent", "refunds": "refunds"},
    "refund": {"charge": "charge", "payment_intent": "payment_intent"},
    "dispute": {"charge": "charge", "payment_intent": "payment_intent"},
}


async def expand(conn: AsyncConnection, body: JsonObject, paths: list[str]) -> JsonObject:
    for path in paths:
        segments = path.split(".")
        if len(segments) > MAX_DEPTH:
            raise param_error(f"You cannot expand more than {MAX_DEPTH} levels of a property. "
                              f"Property: {path}", "expand")
        await _expand(conn, body, segments, path)
    return body


async def _expand(conn: AsyncConnection, body: JsonObject, segments: list[str], path: str) -> None:
    field, rest = segments[0], segments[1:]
    if body.get("object") == "list" and field == "data" and rest:
        for item in body["data"]:
            await _expand(conn, item, rest, path)
        return
    target = EXPANDABLE.get(str(body.get("object")), {}).get(field)
    if target is None:
        raise param_error(f"This property cannot be expanded ({path}).", "expand")
    value = body.get(field)
    if isinstance(value, str) or (target in ("line_items", "refunds") and value is None):
        value = await _load(conn, body, field, target, value)
        body[field] = value
    if rest and isinstance(value, dict):
        await _expand(conn, value, rest, path)


async def _load(conn: AsyncConnection, owner: JsonObject, field: str, target: str, value: str | None) -> object:
    if target == "line_items":
        session = await repository.get_object(conn, owner["id"], "checkout.session")
        items = session.internal.get("line_items", []) if session else []
        return objects.list_object(items, has_more=False, url=f"/v1/checkout/sessions/{owner['id']}/line_items")
    if target == "refunds":
        charge = await repository.get_object(conn, owner["id"], "charge")
        refund_ids = charge.internal.get("refund_ids", []) if charge else []
        refunds = [stored.body for refund_id in reversed(refund_ids)
                   if (stored := await repository.get_object(conn, refund_id, "refund")) is not None]
        return objects.list_object(refunds, has_more=False, url=f"/v1/charges/{owner['id']}/refunds")
    assert value is not None
    stored = await repository.get_object(conn, value, target)
    return stored.body if stored is not None else value
