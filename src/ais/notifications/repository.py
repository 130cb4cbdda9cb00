"""All SQL of the notifications domain."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Uuid, bindparam, column, func, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from ais.notifications.models import MessageStatus, OutboxMessage

# The bookings table, only the two columns the hourly cap joins on: named here rather than
# imported, so the outbox stays below the bookings domain that writes to it.
_bookings = table("bookings", column("id", Uuid), column("user_id", Uuid))


@dataclass(frozen=True, slots=True)
class NoticeCounts:
    already_queued: bool  # a message with this dedupe key exists
    about_booking: int  # messages about the booking, ever
    for_user: int  # messages about any booking of the user since `since`, counted up to `user_cap`


async def notice_counts(session: AsyncSession, *, dedupe_key: str, booking_id: uuid.UUID, user_id: uuid.UUID,
                        since: datetime, user_cap: int) -> NoticeCounts:
    """What the notice caps decide on, in one statement. The user's messages are counted only up
    to `user_cap` (all the cap needs): a user with many bookings costs no more than any other."""
    row = (await session.execute(_NOTICE_COUNTS, {"dedupe_key": dedupe_key, "booking_id": booking_id,
                                                  "user_id": user_id, "since": since, "user_cap": user_cap})).one()
    return NoticeCounts(already_queued=bool(row[0]), about_booking=int(row[1] or 0), for_user=int(row[2] or 0))


def _notice_counts() -> Any:
    queued = select(OutboxMessage.id).where(OutboxMessage.dedupe_key == bindparam("dedupe_key")).exists()
    about_booking = (select(func.count()).select_from(OutboxMessage)
                     .where(OutboxMessage.booking_id == bindparam("booking_id")).scalar_subquery())
    recent = (select(OutboxMessage.id).join(_bookings, _bookings.c.id == OutboxMessage.booking_id)
              .where(_bookings.c.user_id == bindparam("user_id"), OutboxMessage.created_at >= bindparam("since"))
              .limit(bindparam("user_cap", type_=Integer)).subquery())
    for_user = select(func.count()).select_from(recent).scalar_subquery()
    return select(queued, about_booking, for_user)


# Built once: every notice queued asks it (a confirmation's settlement among them).
_NOTICE_COUNTS = _notice_counts()


async def message_for_update(session: AsyncSession, message_id: uuid.UUID) -> OutboxMessage | None:
    """The message, row-locked: two jobs for one message send it once (the second finds it sent)."""
    return await session.get(OutboxMessage, message_id, with_for_update=True)


async def unsent_message_ids(session: AsyncSession, created_before: datetime, limit: int) -> list[uuid.UUID]:
    """Messages still pending that were queued before `created_before` (the sweep's candidates)."""
    return list((await session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == MessageStatus.PENDING, OutboxMessage.created_at < created_before)
        .order_by(OutboxMessage.created_at).limit(limit))).all())
