from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ais.db.keyset import newest_first_page
from ais.identity.models import RefreshToken, TokenStatus, User


@dataclass(frozen=True, slots=True)
class AccessState:
    """What decides whether a user's access token is still honoured."""

    token_version: int
    is_active: bool


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def access_state(session: AsyncSession, user_id: uuid.UUID) -> AccessState | None:
    row = (await session.execute(_ACCESS_STATE, {"user_id": user_id})).one_or_none()
    return None if row is None else AccessState(token_version=row.token_version, is_active=row.is_active)


# Built once: every authenticated request reads it.
_ACCESS_STATE = select(User.token_version, User.is_active).where(User.id == bindparam("user_id"))


async def list_users(session: AsyncSession, *, email: str | None,
                     after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[User]:
    """Newest first; `email` is compared with the stored (normalised, lower-case) address."""
    statement = select(User)
    if email is not None:
        statement = statement.where(User.email == email)
    return list((await session.scalars(newest_first_page(statement, User, after, limit))).all())


async def bump_token_version(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Every access token issued to the user so far stops being honoured (atomic increment)."""
    await session.execute(
        update(User).where(User.id == user_id).values(token_version=User.token_version + 1)
    )


async def token_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    return await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


async def mark_rotated_if_active(session: AsyncSession, token_id: uuid.UUID, now: datetime) -> bool:
    """Compare-and-set: of two concurrent refreshes with one token, exactly one wins."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.status == TokenStatus.ACTIVE)
        .values(status=TokenStatus.ROTATED, rotated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def revoke_device(session: AsyncSession, user_id: uuid.UUID, device_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.user_id == user_id,
            RefreshToken.device_id == device_id,
            RefreshToken.status != TokenStatus.REVOKED,
        )
        .values(status=TokenStatus.REVOKED, revoked_at=now)
    )


async def revoke_all(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    """Every session of the user ends: all refresh tokens are revoked and, through the token
    version, every access token too (SPEC §6)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.status != TokenStatus.REVOKED)
        .values(status=TokenStatus.REVOKED, revoked_at=now)
    )
    await bump_token_version(session, user_id)
