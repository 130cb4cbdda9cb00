"""Maintenance mode: the switch, who sees it when, and what it refuses.

The switch lives in the database, so every API process (on any machine) obeys it. Reading it on
every booking would cost a round trip, so each process keeps what it read for at most
`TTL_SECONDS`: a switch made on another process takes effect here within that second. The
process that makes the change remembers the new state right after its commit, so its very next
request already obeys it (an after-commit hook of its unit of work). Services never commit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ais.audit.service import Actor, record
from ais.db.base import utcnow
from ais.db.unit_of_work import after_commit
from ais.errors import ServiceUnavailable
from ais.maintenance import repository
from ais.maintenance.models import MaintenanceSwitch

TTL_SECONDS = 1.0
DEFAULT_MESSAGE = ("AIS is under maintenance: new bookings and payments are paused. "
                   "Your existing bookings are safe; please try again later.")
DEFAULT_RETRY_AFTER_SECONDS = 300


@dataclass(frozen=True, slots=True)
class MaintenanceState:
    enabled: bool
    message: str
    retry_after_seconds: int
    updated_at: datetime | None = None
    updated_by: str | None = None

    @classmethod
    def of(cls, row: MaintenanceSwitch | None) -> MaintenanceState:
        if row is None:
            return OFF
        return cls(enabled=row.enabled, message=row.message or DEFAULT_MESSAGE,
                   retry_after_seconds=row.retry_after_seconds, updated_at=row.updated_at,
                   updated_by=str(row.updated_by) if row.updated_by else None)

    def audit_view(self) -> dict[str, object]:
        return {"enabled": self.enabled, "message": self.message, "retryAfterSeconds": self.retry_after_seconds}


OFF = MaintenanceState(enabled=False, message=DEFAULT_MESSAGE, retry_after_seconds=DEFAULT_RETRY_AFTER_SECONDS)


class MaintenanceCache:
    """Per process (per app): the switch as read at most `ttl_seconds` ago."""

    def __init__(self, *, ttl_seconds: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._state: MaintenanceState | None = None
        self._read_at = 0.0
        # One reader at a time: when the entry expires under load, one request reads the row and
        # the others wait for its answer instead of sending the same query a hundred times.
        self._refresh = asyncio.Lock()

    def _fresh(self) -> MaintenanceState | None:
        if self._state is not None and self._clock() - self._read_at < self._ttl:
            return self._state
        return None

    async def current(self, session_factory: async_sessionmaker[AsyncSession]) -> MaintenanceState:
        state = self._fresh()
        if state is not None:
            return state
        async with self._refresh:
            state = self._fresh()
            if state is not None:
                return state
            read_at = self._clock()
            # A session of its own, closed at once: the request's session stays free for the route.
            async with session_factory() as session:
                state = MaintenanceState.of(await repository.read_switch(session))
            self._state, self._read_at = state, read_at
            return state

    def remember_after_commit(self, session: AsyncSession, state: MaintenanceState) -> None:
        """Take `state` as current once `session`'s unit of work commits it (a rollback leaves the
        old one)."""
        async def remember(_runtime: object) -> None:
            self._state, self._read_at = state, self._clock()

        after_commit(session, remember, key="maintenance")


async def read(session: AsyncSession) -> MaintenanceState:
    """The switch as the database has it now (not cached: what an admin asks to see)."""
    return MaintenanceState.of(await repository.read_switch(session))


async def switch(session: AsyncSession, actor: Actor, *, enabled: bool, message: str | None,
                 retry_after_seconds: int | None, cache: MaintenanceCache) -> MaintenanceState:
    """Set the switch: omitted fields take their defaults (a generic message, 300 s). Audited with
    the old and the new state, also when nothing changed (someone meant to switch it)."""
    row = await repository.lock_switch(session)
    old = MaintenanceState.of(row)
    row.enabled = enabled
    row.message = message
    row.retry_after_seconds = retry_after_seconds or DEFAULT_RETRY_AFTER_SECONDS
    row.updated_at = utcnow()
    row.updated_by = actor.id
    await session.flush()
    new = MaintenanceState.of(row)
    record(session, actor, action="maintenance.on" if enabled else "maintenance.off",
           resource_type="maintenance", resource_id="maintenance",
           changes={"old": old.audit_view(), "new": new.audit_view()})
    cache.remember_after_commit(session, new)
    return new


def refuse_if_on(state: MaintenanceState) -> None:
    """Raise 503 SERVICE_UNAVAILABLE (retryable, `Retry-After`) while maintenance mode is on."""
    if state.enabled:
        raise ServiceUnavailable(
            state.message,
            details={"message": state.message, "retryAfterSeconds": state.retry_after_seconds},
            headers={"Retry-After": str(state.retry_after_seconds)},
        )
