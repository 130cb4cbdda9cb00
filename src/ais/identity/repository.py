from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ais.identity.models import RefreshToken, TokenStatus, User


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


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
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.status != TokenStatus.REVOKED)
        .values(status=TokenStatus.REVOKED, revoked_at=now)
    )
