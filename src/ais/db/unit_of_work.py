"""The unit of work: the one owner of a database transaction.

A request gets one from its dependency (`ais.http.dependencies.UnitOfWorkDep`), a job opens one
with `async with UnitOfWork(runtime)`. On a clean exit it commits; on an exception it rolls back,
unless the exception says its changes must stand (`keeps_changes`, e.g. a refresh token's reuse:
the device is signed out and the request refused). Services and repositories never commit or roll
back: they work on `uow.session` and raise when something is wrong.

Work that must follow the commit (invalidating the search cache, asking the provider for a
refund, deferring a job) is registered where the change is made, with
`after_commit(session, hook)`; the unit of work that owns the session runs it once the commit
succeeded, and drops it on a rollback. Nobody has to remember to act on a flag afterwards.

A few flows need two transactions because a provider call must happen while no transaction
holds locks (claim an idempotency key, commit; call Stripe; record the answer). They end the
first transaction with `await uow.commit()`, which runs that transaction's hooks; the session
starts the next transaction on its next statement. Each such flow says so in its docstring.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ais.db.errors import is_transient_database_error
from ais.runtime import Runtime

_log = structlog.get_logger("ais.db")
_OWNER = "ais.unit_of_work"

Hook = Callable[["Runtime"], Awaitable[None]]


class UnitOfWork:
    """One transaction at a time on one session, with the hooks that follow its end."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.session: AsyncSession = runtime.session_factory()
        self.session.info[_OWNER] = self
        self._after_commit: dict[object, Hook] = {}
        self._on_rollback: dict[object, Hook] = {}

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        try:
            if exc_type is None or getattr(exc, "keeps_changes", False):
                await self.commit()  # a `keeps_changes` error still propagates after the commit
            else:
                await self._rollback_quietly()
        finally:
            self._after_commit.clear()
            self._on_rollback.clear()
            await self.session.close()

    def after_commit(self, hook: Hook, *, key: object | None = None) -> None:
        """Run `hook(runtime)` once the current transaction has committed (never after a rollback).
        Hooks registered under the same `key` run once: ten sold-out cabins invalidate the cache once."""
        self._after_commit.setdefault(key if key is not None else hook, hook)

    def on_rollback(self, hook: Hook, *, key: object | None = None) -> None:
        """Run `hook(runtime)` if a transaction of this unit of work is rolled back from now on (e.g.
        release an idempotency key the failed attempt claimed in an earlier transaction). It stays
        registered across the intermediate commits of a multi-transaction flow, and is dropped when
        the unit of work ends with a commit."""
        self._on_rollback.setdefault(key if key is not None else hook, hook)

    async def commit(self) -> None:
        """Commit the current transaction, then run its after-commit hooks. A failed commit rolls back
        (running the rollback hooks) and raises. Rollback hooks stay registered (see `on_rollback`)."""
        try:
            await self.session.commit()
        except BaseException:
            await self._rollback_quietly()
            raise
        hooks = list(self._after_commit.values())
        self._after_commit.clear()
        for hook in hooks:
            await _run(hook, self.runtime, "after_commit")

    async def rollback(self) -> None:
        """Roll the current transaction back, drop its after-commit hooks, run its rollback hooks."""
        self._after_commit.clear()
        try:
            await self.session.rollback()
        finally:
            hooks = list(self._on_rollback.values())
            self._on_rollback.clear()
            for hook in hooks:
                await _run(hook, self.runtime, "on_rollback")

    async def _rollback_quietly(self) -> None:
        # Called while another exception is on its way out: a rollback on a dead connection must
        # not replace it (the connection is discarded by the pool either way).
        try:
            await self.rollback()
        except Exception:
            _log.warning("rollback_failed", exc_info=True)


def unit_of_work_of(session: AsyncSession) -> UnitOfWork:
    """The unit of work that owns `session`. A session made outside one is a programming error."""
    owner = session.info.get(_OWNER)
    if not isinstance(owner, UnitOfWork):
        raise RuntimeError("This session does not belong to a unit of work.")
    return owner


def after_commit(session: AsyncSession, hook: Hook, *, key: object | None = None) -> None:
    """Register `hook` on the unit of work that owns `session` (see `UnitOfWork.after_commit`)."""
    unit_of_work_of(session).after_commit(hook, key=key)


async def _run(hook: Hook, runtime: Runtime, phase: str) -> None:
    # The transaction's outcome is final: a hook that fails is logged, never raised, and what it
    # should have done is picked up by the periodic sweep that backs every hook.
    try:
        await hook(runtime)
    except Exception as exc:
        name = getattr(hook, "__qualname__", repr(hook))
        if is_transient_database_error(exc):
            # An outage, not a bug: one warning line, no stack trace (the sweep repairs it later).
            _log.warning("unit_of_work_hook_failed", phase=phase, hook=name, error=type(exc).__name__)
        else:
            _log.warning("unit_of_work_hook_failed", phase=phase, hook=name, exc_info=True)
