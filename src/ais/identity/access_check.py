"""Is an access token still honoured? (SPEC §6)

A JWT cannot be recalled, so every authenticated request compares the token's version with the
user's current `token_version` (and `is_active`). Reading the user on every request would cost a
round trip each time, so each process keeps what it read for at most `TTL_SECONDS`: a change made
on another process takes effect there within that time. The process that makes the change drops
its own entry right after the commit, so it refuses the very next request.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ais.db.unit_of_work import after_commit
from ais.errors import Unauthorized
from ais.identity import repository
from ais.identity.security import AccessClaims
from ais.runtime import Runtime

TTL_SECONDS = 5.0
# Bounded so that a flood of distinct (valid) users cannot grow the process without limit.
MAX_ENTRIES = 50_000


@dataclass(frozen=True, slots=True)
class _Entry:
    state: repository.AccessState | None  # None: the user does not exist (any more)
    read_at: float


class AccessStateCache:
    """Per-process memory of users' access state, each entry trusted for `ttl_seconds`."""

    def __init__(self, *, ttl_seconds: float = TTL_SECONDS, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[uuid.UUID, _Entry] = OrderedDict()
        # Bumped by every forget(): a read that started before a forget may have seen the old
        # state, so its answer is used for that request but never remembered.
        self._epoch = 0

    async def state_of(self, session_factory: async_sessionmaker[AsyncSession],
                       user_id: uuid.UUID) -> repository.AccessState | None:
        entry = self._entries.get(user_id)
        if entry is not None and self._clock() - entry.read_at < self._ttl:
            return entry.state
        epoch, read_at = self._epoch, self._clock()
        # A session of its own, closed at once: the request's session (and on SQLite the only
        # pooled connection) stays free for the route.
        async with session_factory() as session:
            state = await repository.access_state(session, user_id)
        if epoch == self._epoch:
            self._remember(user_id, _Entry(state, read_at))
        return state

    def forget(self, user_id: uuid.UUID) -> None:
        self._epoch += 1
        self._entries.pop(user_id, None)

    def forget_after_commit(self, session: AsyncSession, user_id: uuid.UUID) -> None:
        """Drop the entry once `session`'s unit of work commits the change (a rollback leaves the
        old state valid)."""

        async def forget(_runtime: Runtime) -> None:
            self.forget(user_id)

        after_commit(session, forget, key=("identity.forget_access_state", id(self), user_id))

    def _remember(self, user_id: uuid.UUID, entry: _Entry) -> None:
        self._entries[user_id] = entry
        self._entries.move_to_end(user_id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


async def ensure_honoured(cache: AccessStateCache, session_factory: async_sessionmaker[AsyncSession],
                          claims: AccessClaims) -> None:
    """Raise Unauthorized unless the token's user exists, is active and has the token's version."""
    state = await cache.state_of(session_factory, claims.user_id)
    if state is None:
        raise Unauthorized("The access token is not valid.")
    if not state.is_active:
        raise Unauthorized("This account is deactivated.")
    if state.token_version != claims.version:
        raise Unauthorized("This access token was revoked; sign in again.")
