"""All SQL of the idempotency records (SPEC §7). A claim's `locked_until` doubles as its token:
a take-over sets a new one, so an attempt that outlived its lock can no longer complete or
release the record."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ais.idempotency.models import IdempotencyRecord, IdempotencyStatus

_records = cast(Table, IdempotencyRecord.__table__)
_CLAIM_COLUMNS = ("id", "user_id", "scope", "key", "request_hash", "status", "locked_until", "expires_at",
                  "created_at")


@functools.cache
def _insert_claim(dialect: str) -> Any:
    """Built once per database: INSERT … ON CONFLICT (user_id, scope, key) DO NOTHING."""
    module = postgresql if dialect == "postgresql" else sqlite
    return (module.insert(_records)
            .values({name: bindparam(name, type_=_records.c[name].type) for name in _CLAIM_COLUMNS})
            .on_conflict_do_nothing(index_elements=["user_id", "scope", "key"]))


async def insert_claim(session: AsyncSession, *, record_id: uuid.UUID, user_id: uuid.UUID, scope: str, key: str,
                       fingerprint: str, lock: datetime, expires_at: datetime, now: datetime) -> bool:
    """A STARTED record for (user, scope, key) unless one exists; True when this call made it."""
    result = await session.execute(_insert_claim(session.get_bind().dialect.name), {
        "id": record_id, "user_id": user_id, "scope": scope, "key": key, "request_hash": fingerprint,
        "status": IdempotencyStatus.STARTED, "locked_until": lock, "expires_at": expires_at, "created_at": now,
    })
    return bool(result.rowcount)  # type: ignore[attr-defined]


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


# A claim that is still ours carries our lock; an answer stored earlier in the same attempt may be
# replaced (a booking whose record locator clashed stores its answer again under the new one).
_COMPLETE = (
    update(_records)
    .where(_records.c.id == bindparam("record_id"),
           _records.c.status.in_([IdempotencyStatus.STARTED, IdempotencyStatus.COMPLETED]),
           _records.c.locked_until == bindparam("lock"))
    .values(status=IdempotencyStatus.COMPLETED, response_status=bindparam("status_code"),
            response_body=bindparam("body"))
)


async def complete(session: AsyncSession, record_id: uuid.UUID, lock: datetime, *, status_code: int,
                   body: bytes) -> bool:
    """Store the answer of a claim that is still ours; False when a retry took the key over."""
    result = await session.execute(_COMPLETE, {"record_id": record_id, "lock": lock, "status_code": status_code,
                                               "body": body})
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def mark_failed(session: AsyncSession, record_id: uuid.UUID, lock: datetime) -> None:
    """End a claim that is still ours as failed, so the same key may be retried."""
    await session.execute(
        update(IdempotencyRecord).where(*_still_ours(record_id, lock)).values(status=IdempotencyStatus.FAILED)
    )
