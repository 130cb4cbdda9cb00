"""Admin user routes (SPEC §11 admin contract): find users, deactivate/reactivate, change role."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from ais.audit.service import Actor
from ais.http.api_model import Page
from ais.http.dependencies import AccessStatesDep, SessionDep
from ais.http.errors import responses
from ais.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, next_cursor
from ais.identity import admin_service
from ais.identity.dependencies import AdminUser
from ais.identity.schemas import AdminUserOut, UserPatch

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/users", response_model=Page[AdminUserOut],
            responses=responses("UNAUTHORIZED", "TOKEN_EXPIRED", "FORBIDDEN"))
async def find_users(
    admin: AdminUser, session: SessionDep,
    email: Annotated[str | None, Query(max_length=254)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[AdminUserOut]:
    """Users newest first; `email` finds one account by its address, matched exactly in any letter case."""
    rows = await admin_service.find_users(session, email=email, after=decode_cursor(cursor), limit=limit)
    return Page(items=[AdminUserOut.model_validate(r) for r in rows], next_cursor=next_cursor(rows, limit))


@router.patch("/users/{user_id}", response_model=AdminUserOut,
              responses=responses("UNAUTHORIZED", "TOKEN_EXPIRED", "FORBIDDEN", "NOT_FOUND"))
async def update_user(
    user_id: uuid.UUID, body: UserPatch, admin: AdminUser, request: Request, session: SessionDep,
    access_states: AccessStatesDep,
) -> AdminUserOut:
    """Deactivate or reactivate an account (`isActive`) or change its `role`. The user's access
    tokens stop working at once on this server and within 5 seconds on every other; deactivation
    also revokes their refresh tokens. Audited."""
    actor = Actor.from_request(request, user_id=admin.id, role=admin.role)
    user = await admin_service.update_user(session, actor, user_id, is_active=body.is_active, role=body.role,
                                           access_states=access_states)
    return AdminUserOut.model_validate(user)
