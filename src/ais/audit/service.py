"""The audit log: who did what to which resource, from where, under which correlation id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit.models import AuditEntry
from ais.ops.correlation import current_correlation_id
from ais.ops.proxy_headers import valid_address


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, and from where: built from the request for people, or named for jobs."""

    id: uuid.UUID | None
    role: str
    ip: str | None = None
    user_agent: str | None = None

    @property
    def label(self) -> str:
        return f"{self.role}:{self.id}" if self.id else f"system:{self.role}"

    @classmethod
    def from_request(cls, request: Request, *, user_id: uuid.UUID, role: str) -> Actor:
        return cls(
            id=user_id,
            role=role,
            # Validated and bounded: whatever the server put there never makes the insert fail.
            ip=valid_address(request.client.host) if request.client else None,
            user_agent=(request.headers.get("user-agent") or "")[:256] or None,
        )

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(id=None, role=job)


def record(session: AsyncSession, actor: Actor, *, action: str, resource_type: str, resource_id: str,
           changes: dict[str, Any] | None = None) -> None:
    """Add an audit entry to the caller's transaction: it stands or falls with the change itself."""
    session.add(
        AuditEntry(
            actor_id=actor.id,
            actor_role=actor.role,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            changes=changes or {},
            ip=actor.ip,
            user_agent=actor.user_agent,
            correlation_id=current_correlation_id(),
        )
    )
