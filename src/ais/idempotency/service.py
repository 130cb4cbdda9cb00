"""Idempotent writes, with Stripe's rules (SPEC §7).

Scope is user + operation + key. An operation that only writes to the database (a booking)
claims its key in its own transaction: the claim, the work and the stored answer commit together,
and a concurrent repeat waits on the key's unique index until the first attempt ends, then replays
its answer (or runs, when the first failed and left nothing). An operation that calls the payment
provider while it runs must not keep a transaction open across that call: it claims the key in a
short committed transaction first (the one documented early commit), so a repeat meanwhile is told
to retry, and a failure releases the key. Either way an answer is stored exactly when its effects
are; a repeat gets the stored bytes back; a different body is refused. Only successful (2xx)
answers are stored: a 409 "sold out" or a 503 must not be replayed for a day.

The HTTP side (the `Idempotency-Key` header, the replayed response) is `ais.http.idempotency`;
this module knows nothing of HTTP.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from ais.db.base import utcnow
from ais.db.unit_of_work import Hook, UnitOfWork
from ais.errors import (
    IdempotencyInProgress,
    IdempotencyKeyRequired,
    IdempotencyPayloadMismatch,
    ValidationFailed,
)
from ais.idempotency import repository
from ais.idempotency.models import IdempotencyStatus
from ais.runtime import Runtime

RETENTION = timedelta(hours=24)
# A STARTED record older than this belonged to a process that died mid-request.
LOCK_TTL = timedelta(seconds=60)
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True, slots=True)
class Claim:
    """This attempt owns the key: the record, and its `locked_until` as the claim's token."""

    record_id: uuid.UUID
    lock: datetime


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The answer a completed attempt stored, to be replayed byte for byte."""

    status_code: int
    body: bytes


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


async def claim(uow: UnitOfWork, *, user_id: uuid.UUID, scope: str, key: str | None,
                fingerprint: str, early_commit: bool = True) -> Claim | StoredAnswer:
    """Claim (user, scope, key) for this attempt, or find the answer to replay.

    With `early_commit` (operations that call the provider), a two-transaction flow: the claim
    commits at once (`uow.commit()`), so a concurrent repeat sees it while this attempt runs; the
    attempt's own work then runs in the unit of work's next transaction, and from here on a
    rollback of the unit of work releases the key (a rollback hook). Without it, the claim is a
    row of the attempt's own transaction: a concurrent repeat's insert waits for that transaction
    (PostgreSQL's unique index) and then finds the stored answer, or nothing when it rolled back;
    a rollback takes the claim with it. Raises IdempotencyKeyRequired / ValidationFailed (no or
    malformed key), IdempotencyPayloadMismatch (the key was used with another request),
    IdempotencyInProgress (an attempt with this key is still running: retry)."""
    key = validate_key(key)
    session = uow.session
    now = utcnow()
    record_id, lock = uuid.uuid4(), now + LOCK_TTL
    inserted = await repository.insert_claim(session, record_id=record_id, user_id=user_id, scope=scope, key=key,
                                             fingerprint=fingerprint, lock=lock, expires_at=now + RETENTION, now=now)
    if not inserted:
        record = await repository.find(session, user_id=user_id, scope=scope, key=key)
        if record is None:  # deleted by cleanup between our insert and select: treat as busy
            raise IdempotencyInProgress()
        expired = record.expires_at <= now
        if not expired and record.request_hash != fingerprint:
            raise IdempotencyPayloadMismatch()
        if not expired and record.status == IdempotencyStatus.COMPLETED:
            assert record.response_body is not None and record.response_status is not None
            return StoredAnswer(record.response_status, record.response_body)
        if not expired and record.status == IdempotencyStatus.STARTED and record.locked_until > now:
            raise IdempotencyInProgress()
        # Failed, abandoned by a crash, or past retention: take it over, if nobody else just did.
        if not await repository.take_over(session, record, fingerprint=fingerprint, lock=lock,
                                          expires_at=now + RETENTION):
            raise IdempotencyInProgress()
        record_id = record.id
    claimed = Claim(record_id, lock)
    if not early_commit:
        return claimed
    await uow.commit()
    uow.on_rollback(_releaser(claimed), key=("idempotency.release", record_id))
    return claimed


async def complete(uow: UnitOfWork, claimed: Claim, *, status_code: int, body: bytes) -> None:
    """Store the answer in the attempt's transaction: it commits together with the work it answers.
    Raises IdempotencyInProgress when this attempt outlived its lock and a retry took the key over:
    the retry's effects stand, ours roll back, and the client is told to ask again."""
    if not await repository.complete(uow.session, claimed.record_id, claimed.lock, status_code=status_code,
                                     body=body):
        raise IdempotencyInProgress()


def _releaser(claimed: Claim) -> Hook:
    async def release_key(runtime: Runtime) -> None:
        """Mark the failed attempt's claim failed so the key may be retried (unless a retry took it
        over meanwhile). Best effort: if the database is gone, the lock lapses after LOCK_TTL."""
        async with UnitOfWork(runtime) as uow:
            await repository.mark_failed(uow.session, claimed.record_id, claimed.lock)

    return release_key
