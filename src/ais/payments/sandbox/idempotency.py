"""Stripe's `Idempotency-Key` semantics for POST requests.

- The key is scoped to the account (here: the secret key) and kept 24 hours.
- Same key, same endpoint, same parameters: the stored status and body are replayed, with
  `Idempotent-Replayed: true` and `Original-Request: <request id>`.
- Same key with another endpoint or other parameters: 400 `idempotency_error`.
- Only results of requests that started executing are stored: parameter errors are not
  (a corrected retry may reuse the key), business refusals such as over-refunds are.

The key's record is written in the same transaction as the work it describes, so a crash
can never leave work done without its record, or a record without its work. Requests with
one key run one after the other (`serialize`): the second finds the first one's record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ais.payments.sandbox.errors import StripeError
from ais.payments.sandbox.tables import idempotency_keys

KEY_LIFETIME_SECONDS = 24 * 60 * 60
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class SavedResponse:
    status_code: int
    body: dict[str, Any]
    request_id: str


def scope_for(secret_key: str) -> str:
    return hashlib.sha256(secret_key.encode()).hexdigest()[:32]


def check_key(key: str) -> None:
    if len(key) > MAX_KEY_LENGTH:
        raise StripeError(400, f"Idempotency-Key must be no longer than {MAX_KEY_LENGTH} characters.",
                          type="idempotency_error", stored=False)


_LOOKUP = select(idempotency_keys).where(
    idempotency_keys.c.scope == bindparam("scope"), idempotency_keys.c.key == bindparam("key"),
    idempotency_keys.c.created > bindparam("cutoff"))
_LOCK = select(func.pg_advisory_xact_lock(bindparam("lock", type_=BigInteger)))
_RECORD = ("method", "path", "fingerprint", "status_code", "body", "request_id", "created")


def _upsert(dialect: Any) -> Any:
    statement = dialect.insert(idempotency_keys)
    return statement.on_conflict_do_update(index_elements=[idempotency_keys.c.scope, idempotency_keys.c.key],
                                           set_={column: statement.excluded[column] for column in _RECORD})


_SAVE = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}


async def serialize(conn: AsyncConnection, *, scope: str, key: str) -> None:
    """Hold this key until the transaction ends: a concurrent request with the same key waits
    here, then replays the record the first one committed. On SQLite every transaction is
    already serial; on PostgreSQL a transaction advisory lock on the key's hash does it (the
    record's primary key would only turn the loser into an error)."""
    if conn.dialect.name == "postgresql":
        digest = hashlib.sha256(f"{scope}\0{key}".encode()).digest()
        await conn.execute(_LOCK, {"lock": int.from_bytes(digest[:8], "big", signed=True)})


async def lookup(conn: AsyncConnection, *, scope: str, key: str, method: str, path: str, fingerprint: str,
                 now: float) -> SavedResponse | None:
    """The stored answer for this key, or None when the key is new (or older than 24 h).
    Raises `idempotency_error` when the key was used for a different request."""
    row = (await conn.execute(_LOOKUP, {"scope": scope, "key": key, "cutoff": now - KEY_LIFETIME_SECONDS})).first()
    if row is None:
        return None
    if (row.method, row.path) != (method, path):
        raise StripeError(
            400,
            f"Keys for idempotent requests can only be used for the same endpoint they were first used for "
            f"('{row.method} {row.path}' vs '{method} {path}'). Try using a key other than '{key}' if you "
            "meant to execute a different request.",
            type="idempotency_error", stored=False)
    if row.fingerprint != fingerprint:
        raise StripeError(
            400,
            "Keys for idempotent requests can only be used with the same parameters they were first used "
            f"with. Try using a key other than '{key}' if you meant to execute a different request.",
            type="idempotency_error", stored=False)
    return SavedResponse(row.status_code, row.body, row.request_id)


async def save(conn: AsyncConnection, *, scope: str, key: str, method: str, path: str, fingerprint: str,
               status_code: int, body: dict[str, Any], request_id: str, now: float) -> None:
    """Record the answer (the caller holds the key, see `serialize`). An expired record of the
    same key, which `lookup` ignored, is replaced."""
    await conn.execute(_SAVE["postgresql" if conn.dialect.name == "postgresql" else "sqlite"], {
        "scope": scope, "key": key, "method": method, "path": path, "fingerprint": fingerprint,
        "status_code": status_code, "body": body, "request_id": request_id, "created": now})


async def forget_expired(conn: AsyncConnection, *, now: float) -> None:
    """Delete records older than 24 hours (the background pass does it, not each request, so
    that parallel requests do not all queue on deleting the same rows)."""
    await conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created <= now - KEY_LIFETIME_SECONDS))
