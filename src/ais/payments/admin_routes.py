"""The webhook inbox for staff: list events, replay one that failed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ais.api_model import ApiModel
from ais.audit import service as audit
from ais.audit.service import Actor
from ais.db.session import SessionDep
from ais.errors import NotFound
from ais.identity.dependencies import AdminUser
from ais.openapi_errors import responses
from ais.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_keyed_cursor, encode_cursor
from ais.payments import repository
from ais.payments.models import ProviderEvent
from ais.payments.webhooks import process_event

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class ProviderEventOut(ApiModel):
    id: str
    type: str
    processed: bool
    processed_at: datetime | None
    attempts: int
    last_error: str | None
    received_at: datetime
    payload: dict[str, Any]


class ProviderEventPage(ApiModel):
    items: list[ProviderEventOut]
    next_cursor: str | None = None


@router.get("/provider-events", response_model=ProviderEventPage, responses=responses("UNAUTHORIZED", "FORBIDDEN"))
async def provider_events(
    admin: AdminUser, session: SessionDep,
    processed: bool | None = None,
    type: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ProviderEventPage:
    """Newest first; `processed=false` shows what is waiting for a retry or a replay."""
    rows = await repository.list_events(session, processed=processed, event_type=type,
                                        after=decode_keyed_cursor(cursor), limit=limit)
    nxt = encode_cursor(rows[-1].received_at, rows[-1].id) if len(rows) == limit else None
    return ProviderEventPage(items=[ProviderEventOut.model_validate(r) for r in rows], next_cursor=nxt)


@router.post("/provider-events/{event_id}/replay", response_model=ProviderEventOut,
             responses=responses("NOT_FOUND", "UNAUTHORIZED", "FORBIDDEN"))
async def replay(event_id: str, request: Request, admin: AdminUser, session: SessionDep) -> ProviderEventOut:
    """Process a stored event again if it is not processed yet (a processed one is left alone)."""
    if await session.get(ProviderEvent, event_id) is None:
        raise NotFound("No such event.")
    await session.rollback()
    await process_event(request.app.state.runtime, event_id)
    actor = Actor.from_request(request, user_id=admin.id, role=admin.role)
    stored = await session.get(ProviderEvent, event_id, populate_existing=True)
    assert stored is not None
    audit.record(session, actor, action="webhook.replay", resource_type="provider_event", resource_id=event_id,
                 changes={"processed": stored.processed, "attempts": stored.attempts})
    await session.commit()
    return ProviderEventOut.model_validate(stored)


