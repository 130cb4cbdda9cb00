"""Hourly cleanup: expired idempotency records and refresh tokens past their life."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_

from ais.db.base import utcnow
from ais.idempotency.models import IdempotencyRecord
from ais.identity.models import RefreshToken, TokenStatus
from ais.runtime import Runtime

# Revoked/rotated tokens are kept a while so that reuse of a rotated token is still detected.
_ROTATED_TOKEN_GRACE = timedelta(days=7)


async def cleanup_expired_records(runtime: Runtime) -> int:
    now = utcnow()
    async with runtime.session_factory() as session:
        records = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now))
        tokens = await session.execute(
            delete(RefreshToken).where(
                or_(
                    RefreshToken.expires_at < now,
                    (RefreshToken.status != TokenStatus.ACTIVE)
                    & (RefreshToken.created_at < now - _ROTATED_TOKEN_GRACE),
                )
            )
        )
        await session.commit()
    return int(records.rowcount or 0) + int(tokens.rowcount or 0)  # type: ignore[attr-defined]
