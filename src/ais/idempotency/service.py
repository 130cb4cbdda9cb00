"""Idempotent writes, with Stripe's rules (SPEC §7).

Scope is user + operation + key. The first attempt claims the key in a short committed
transaction; the operation and the stored response then commit together, so a response is
stored exactly when its effects are. A repeat gets the stored bytes back; a different body is
refused; a repeat while the first runs is told to retry. An attempt that failed (nothing
committed) releases the key so the client may retry it. Only successful (2xx) answers are
stored: a 409 "sold out" or a 503 must not be replayed for a day.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from fastapi import Response
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ais.db.base import utcnow
from ais.db.upsert import insert_if_absent
from ais.errors import (
    IdempotencyInProgress,
    IdempotencyKeyRequired,
    IdempotencyPayloadMismatch,
    ValidationFailed,
)
from ais.idempotency.models import IdempotencyRecord, IdempotencyStatus

RETENTION = timedelta(hours=24)
# A STARTED record older than this belonged to a process that died mid-request.
LOCK_TTL = timedelta(seconds=60)
REPLAY_HEADER = "Idempotent-Replayed"
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")

Operation = Callable[[], Awaitable[tuple[int, BaseModel]]]


def request_hash(method: str, path: str, body: BaseModel | dict[str, Any] | None) -> str:
    """Hash of what the request asks for: method, path and the parsed body in canonical form
    (so whitespace or key order do not count as a different request)."""
    payload = body.model_dump(mode="json", by_alias=True) if isinstance(body, BaseModel) else (body or {})
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def validate_key(key: str | None) -> str:
    if key is None or key == "":
        raise IdempotencyKeyRequired()
    if not _KEY_PATTERN.match(key):
        raise ValidationFailed(
            "Idempotency-Key must be 1-255 printable ASCII characters.",
            details={"errors": [{"field": "Idempotency-Key", "message": "invalid"}]},
        )
    return key


def _serialize(payload: BaseModel) -> bytes:
    return payload.model_dump_json(by_alias=True).encode()


async def run_idempotent(
    session: AsyncSession, *, user_id: uuid.UUID, scope: str, key: str | None, fingerprint: str,
    operation: Operation,
) -> Response:
    """Run `operation` at most once per (user, scope, key) and answer with its stored response.

    `operation` must not commit; it returns (status code, response model). Raises
    IdempotencyKeyRequired, IdempotencyPayloadMismatch, IdempotencyInProgress."""
    key = validate_key(key)
    record_id, lock, replay = await _claim(session, user_id=user_id, scope=scope, key=key, fingerprint=fingerprint)
    if replay is not None:
        return replay
    try:
        status_code, payload = await operation()
        body = _serialize(payload)
        completed = await session.execute(
            update(IdempotencyRecord)
            .where(*_still_ours(record_id, lock))
            .values(status=IdempotencyStatus.COMPLETED, response_status=status_code, response_body=body)
        )
        if not completed.rowcount:  # type: ignore[attr-defined]
            # This attempt outlived its lock and a retry took the key over: the retry's effects
            # stand, ours roll back, and the client is told to ask again (it then gets the answer).
            raise IdempotencyInProgress()
        await session.commit()
    except BaseException:
        await session.rollback()
        await _release(session, record_id, lock)
        raise
    return Response(content=body, status_code=status_code, media_type="application/json")


def _still_ours(record_id: uuid.UUID, lock: datetime) -> tuple[Any, ...]:
    """The claim an attempt made is still its own: started, and not taken over since (a take-over
    sets a new `locked_until`, which serves as the claim's token)."""
    return (IdempotencyRecord.id == record_id, IdempotencyRecord.status == IdempotencyStatus.STARTED,
            IdempotencyRecord.locked_until == lock)


async def _claim(session: AsyncSession, *, user_id: uuid.UUID, scope: str, key: str, fingerprint: str
                 ) -> tuple[uuid.UUID, datetime, Response | None]:
    """Claim the key: (record id, the claim's lock, None), or (…, a stored answer to replay)."""
    now = utcnow()
    record_id = uuid.uuid4()
    lock = now + LOCK_TTL
    inserted = await insert_if_absent(
        session,
        IdempotencyRecord.__table__,
        {
            "id": record_id, "user_id": user_id, "scope": scope, "key": key, "request_hash": fingerprint,
            "status": IdempotencyStatus.STARTED.value, "locked_until": lock,
            "expires_at": now + RETENTION, "created_at": now,
        },
        ["user_id", "scope", "key"],
    )
    await session.commit()
    if inserted:
        return record_id, lock, None

    record = await session.scalar(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.scope == scope,
               IdempotencyRecord.key == key)
        .execution_options(populate_existing=True)
    )
    if record is None:  # deleted by cleanup between our insert and select: treat as busy
        raise IdempotencyInProgress()
    expired = record.expires_at <= now
    if not expired and record.request_hash != fingerprint:
        raise IdempotencyPayloadMismatch()
    if not expired and record.status == IdempotencyStatus.COMPLETED:
        assert record.response_body is not None and record.response_status is not None
        return record.id, record.locked_until, Response(
            content=record.response_body, status_code=record.response_status,
            media_type="application/json", headers={REPLAY_HEADER: "true"},
        )
    if not expired and record.status == IdempotencyStatus.STARTED and record.locked_until > now:
        raise IdempotencyInProgress()
    # Failed, abandoned by a crash, or past retention: take it over, if nobody else just did.
    if not await _take_over(session, record, fingerprint, now=now, lock=lock):
        raise IdempotencyInProgress()
    await session.commit()
    return record.id, lock, None


async def _take_over(session: AsyncSession, record: IdempotencyRecord, fingerprint: str, *, now: datetime,
                     lock: datetime) -> bool:
    result = await session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.id == record.id,
            IdempotencyRecord.status == record.status,
            IdempotencyRecord.locked_until == record.locked_until,
        )
        .values(
            status=IdempotencyStatus.STARTED, request_hash=fingerprint, locked_until=lock,
            expires_at=now + RETENTION, response_status=None, response_body=None,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _release(session: AsyncSession, record_id: uuid.UUID, lock: datetime) -> None:
    """Mark the attempt failed so the same key may be retried (unless a retry has taken the key
    over meanwhile: that claim is not ours to end); best effort (if the database is gone, the
    lock simply lapses after LOCK_TTL)."""
    try:
        await session.execute(
            update(IdempotencyRecord).where(*_still_ours(record_id, lock)).values(status=IdempotencyStatus.FAILED)
        )
        await session.commit()
    except Exception:
        await session.rollback()
