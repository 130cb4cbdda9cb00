from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit.models import AuditEntry
from ais.db.keyset import newest_first_page


async def list_entries(session: AsyncSession, *, action: str | None, resource_type: str | None,
                       resource_id: str | None, actor_id: uuid.UUID | None,
                       after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[AuditEntry]:
    """Newest first, keyset-paginated on (created_at, id)."""
    statement = select(AuditEntry)
    if action:
        statement = statement.where(AuditEntry.action == action)
    if resource_type:
        statement = statement.where(AuditEntry.resource_type == resource_type)
    if resource_id:
        statement = statement.where(AuditEntry.resource_id == resource_id)
    if actor_id:
        statement = statement.where(AuditEntry.actor_id == actor_id)
    return list((await session.scalars(newest_first_page(statement, AuditEntry, after, limit))).all())
