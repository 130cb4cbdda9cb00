from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from ais.audit import repository
from ais.audit.schemas import AuditEntryOut
from ais.http.api_model import Page
from ais.http.dependencies import SessionDep
from ais.http.errors import responses
from ais.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, next_cursor
from ais.identity.dependencies import AdminUser

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/audit-log", response_model=Page[AuditEntryOut], responses=responses("UNAUTHORIZED", "FORBIDDEN"))
async def audit_log(
    admin: AdminUser, session: SessionDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    resource_type: Annotated[str | None, Query(alias="resourceType", max_length=32)] = None,
    resource_id: Annotated[str | None, Query(alias="resourceId", max_length=64)] = None,
    actor_id: Annotated[uuid.UUID | None, Query(alias="actorId")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[AuditEntryOut]:
    """Who did what: refunds, cancellations, boarding, flight and fare changes."""
    rows = await repository.list_entries(session, action=action, resource_type=resource_type,
                                         resource_id=resource_id, actor_id=actor_id,
                                         after=decode_cursor(cursor), limit=limit)
    return Page(items=[AuditEntryOut.model_validate(r) for r in rows], next_cursor=next_cursor(rows, limit))
