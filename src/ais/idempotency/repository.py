"""All SQL of the idempotency records (SPEC §7). A claim's `locked_until` doubles as its token:
a take-over sets a new one, so an attempt that outlived its lock can no longer complete or
release the record."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ais.db.upsert import insert_if_absent
from ais.idempotency.models import IdempotencyRecord, IdempotencyStatus


async def insert_claim(session: AsyncSession, *, record_id: uuid.UUID, user_id: uuid.UUID, scope: str, key: str,
                       fingerprint: str, lock: datetime, expires_at: datetime, now: datetime) -> bool:
    """A STARTED record for (user, scope, key) unless one exists; True when this call made it."""
    return await insert_if_absent(
        session,
        IdempotencyRecord.__table__,
        {
            "id": record_id, "user_id": user_id, "scope": scope, "key": key, "request_hash": fingerprint,
            "status": IdempotencyStatus.STARTED.value, "locked_until": lock, "expires_at": expires_at,
            "created_at": now,
        },
        ["user_id", "scope", "key"],
    )


async def find(session: AsyncSession, *, user_id: uuid.UUID, scope: str, key: str) -> IdempotencyRecord | None:
    return await session.scalar(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.scope == scope,
               IdempotencyRecord.key == key)
        .execution_options(populate_existing=True)
    )


async def take_over(session: AsyncSession, record: IdempotencyRecord, *, fingerprint: str, lock: datetime,
                    expires_at: datetime) -> bool:
    """Restart `record` for a new attempt, if nobody else changed it since it was read."""
    result = await session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.id == record.id,
            IdempotencyRecord.status == record.status,
            IdempotencyRecord.locked_until == record.locked_until,
        )
        .values(
            status=IdempotencyStatus.STARTED, request_hash=fingerprint, locked_until=lock,
            expires_at=expires_at, response_status=None, response_body=None,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _still_ours(record_id: uuid.UUID, lock: datetime) -> tuple[Any, ...]:
    """The claim an attempt made is still its own: started, and not taken over since."""
    return (IdempotencyRecord.id == record_id, IdempotencyRecord.status == IdempotencyStatus.STARTED,
            IdempotencyRecord.locked_until == lock)


async def complete(session: AsyncSession, record_id: uuid.UUID, lock: datetime, *, status_code: int,
                   body: bytes) -> bool:
    """Store the answer of a claim that is still ours; False when a retry took the key over."""
    result = await session.execute(
        update(IdempotencyRecord)
        .where(*_still_ours(record_id, lock))
        .values(status=IdempotencyStatus.COMPLETED, response_status=status_code, response_body=body)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def mark_failed(session: AsyncSession, record_id: uuid.UUID, lock: datetime) -> None:
    """End a claim that is still ours as failed, so the same key may be retried."""
    await session.execute(
        update(IdempotencyRecord).where(*_still_ours(record_id, lock)).values(status=IdempotencyStatus.FAILED)
    )
