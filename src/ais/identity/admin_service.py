"""Staff managing accounts: find users, deactivate or reactivate them, change their role.
Services never commit: the request's unit of work does. Every change is audited in the same transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit.service import Actor, record
from ais.db.base import utcnow
from ais.errors import Forbidden, NotFound
from ais.identity import repository
from ais.identity.access_check import AccessStateCache
from ais.identity.models import Role, User
from ais.identity.service import normalize_email


async def find_users(session: AsyncSession, *, email: str | None, after: tuple[datetime, uuid.UUID] | None,
                     limit: int) -> list[User]:
    """Users newest first; with `email`, the one account with that address (any letter case)."""
    return await repository.list_users(
        session, email=normalize_email(email) if email is not None else None, after=after, limit=limit
    )


async def update_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID, *, is_active: bool | None,
                      role: Role | None, access_states: AccessStateCache) -> User:
    """Apply `is_active` and/or `role` to the user.

    Deactivation revokes every refresh token; deactivation and a role change both end every
    access token issued so far (the token version is bumped), effective on this process as soon
    as the caller commits and on the others within seconds. An admin cannot deactivate or demote
    themself (Forbidden): the last admin could otherwise lock everyone out. NotFound for an
    unknown id. Setting what is already set changes nothing and writes no audit entry."""
    user = await repository.user_by_id(session, user_id)
    if user is None:
        raise NotFound("No such user.")
    changes: dict[str, Any] = {}
    if is_active is not None and is_active != user.is_active:
        changes["isActive"] = [user.is_active, is_active]
    if role is not None and role != user.role:
        changes["role"] = [user.role.value, role.value]
    if not changes:
        return user
    if user.id == actor.id:
        raise Forbidden("Admins cannot deactivate or demote their own account; ask another admin.")
    if is_active is not None:
        user.is_active = is_active
    if role is not None:
        user.role = role
    await session.flush()
    if is_active is False:
        await repository.revoke_all(session, user.id, utcnow())  # refresh tokens and access tokens
    elif "role" in changes:
        await repository.bump_token_version(session, user.id)
    access_states.forget_after_commit(session, user.id)
    record(session, actor, action="user.update", resource_type="user", resource_id=str(user.id), changes=changes)
    return user
