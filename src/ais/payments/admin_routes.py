"""The webhook inbox for staff: list events, replay one that failed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from ais.audit.service import Actor
from ais.http.dependencies import RuntimeDep, SessionDep
from ais.http.errors import responses
from ais.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_keyed_cursor, encode_cursor
from ais.identity.dependencies import AdminUser
from ais.payments import repository, webhooks
from ais.payments.schemas import ProviderEventOut, ProviderEventPage

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


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
async def replay(event_id: str, request: Request, admin: AdminUser, runtime: RuntimeDep) -> ProviderEventOut:
    """Process a stored event again if it is not processed yet (a processed one is left alone)."""
    actor = Actor.from_request(request, user_id=admin.id, role=admin.role)
    return ProviderEventOut.model_validate(await webhooks.replay_event(runtime, event_id, actor=actor))
