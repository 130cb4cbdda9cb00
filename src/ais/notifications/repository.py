"""All SQL of the notifications domain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Uuid, column, func, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from ais.notifications.models import MessageStatus, OutboxMessage

# The bookings table, only the two columns the hourly cap joins on: named here rather than
# imported, so the outbox stays below the bookings domain that writes to it.
_bookings = table("bookings", column("id", Uuid), column("user_id", Uuid))


async def message_queued(session: AsyncSession, dedupe_key: str) -> bool:
    return await session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)) is not None


async def messages_about_booking(session: AsyncSession, booking_id: uuid.UUID) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.booking_id == booking_id)) or 0)


async def messages_for_user_since(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> int:
    """Messages queued since `since` about any booking of the user."""
    return int(await session.scalar(
        select(func.count()).select_from(OutboxMessage)
        .join(_bookings, _bookings.c.id == OutboxMessage.booking_id)
        .where(_bookings.c.user_id == user_id, OutboxMessage.created_at >= since)) or 0)


async def message_for_update(session: AsyncSession, message_id: uuid.UUID) -> OutboxMessage | None:
    """The message, row-locked: two jobs for one message send it once (the second finds it sent)."""
    return await session.get(OutboxMessage, message_id, with_for_update=True)


async def unsent_message_ids(session: AsyncSession, created_before: datetime, limit: int) -> list[uuid.UUID]:
    """Messages still pending that were queued before `created_before` (the sweep's candidates)."""
    return list((await session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == MessageStatus.PENDING, OutboxMessage.created_at < created_before)
        .order_by(OutboxMessage.created_at).limit(limit))).all())
