"""`runtime.jobs`, the queue a process defers jobs to: procrastinate on PostgreSQL, the embedded
executor's table on SQLite. `create_job_queue` picks by the database; the composition root
(`ais.wiring`) hands it to the runtime."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued

from ais.db.unit_of_work import UnitOfWork
from ais.db.urls import is_sqlite
from ais.jobs import repository
from ais.jobs.execution import CORRELATION_ARG
from ais.jobs.procrastinate_app import build_app
from ais.jobs.schedule import BY_NAME
from ais.ops.correlation import current_correlation_id
from ais.runtime import JobQueue, Runtime

# Connections of the pool a process defers jobs with (a worker's own pool is sized by its concurrency).
DEFER_POOL_SIZE = 2


def _with_correlation(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {**kwargs, CORRELATION_ARG: current_correlation_id()}


class ProcrastinateQueue:
    """Defers through procrastinate; its connection pool opens on the first defer."""

    def __init__(self, runtime: Runtime, *, pool_size: int = DEFER_POOL_SIZE) -> None:
        self.runtime = runtime
        self.app = build_app(runtime, pool_size=pool_size)
        self._opened = False
        self._opening = asyncio.Lock()

    async def open(self) -> procrastinate.App:
        if not self._opened:
            async with self._opening:
                if not self._opened:
                    await self.app.open_async()
                    self._opened = True
        return self.app

    async def defer(self, task: str, *, queueing_lock: str | None = None, **kwargs: Any) -> None:
        """One job per queueing lock waits or runs: a sweep that finds the refund still pending
        while its job runs (and may retry itself) defers nothing."""
        app = await self.open()
        if queueing_lock is not None:
            async with self.runtime.autocommit_session_factory() as session:  # one statement, autocommit
                if await repository.procrastinate_lock_held(session, queueing_lock):
                    return
        try:
            await app.configure_task(task, queueing_lock=queueing_lock,
                                     queue=BY_NAME[task].queue).defer_async(**_with_correlation(kwargs))
        except AlreadyEnqueued:
            pass  # one such job waits already

    async def prune(self, older_than: timedelta) -> None:
        app = await self.open()
        await app.job_manager.delete_old_jobs(nb_hours=max(int(older_than.total_seconds() // 3600), 1),
                                              include_failed=False)

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await self.app.close_async()


class EmbeddedQueue:
    """Defers into `embedded_jobs`, run by the one embedded executor of this machine (which a
    defer in this process wakes at once; another process's executor finds it within its poll)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.wake: asyncio.Event | None = None  # set by the executor running in this process

    async def defer(self, task: str, *, queueing_lock: str | None = None, **kwargs: Any) -> None:
        async with UnitOfWork(self.runtime) as uow:
            await repository.insert_embedded_job(uow.session, task=task, queue=BY_NAME[task].queue,
                                                 args=_with_correlation(kwargs), queueing_lock=queueing_lock)
        if self.wake is not None:
            self.wake.set()

    async def prune(self, older_than: timedelta) -> None:
        return None  # the hourly cleanup deletes finished embedded jobs with the other records

    async def close(self) -> None:
        return None


def create_job_queue(runtime: Runtime) -> JobQueue:
    if is_sqlite(runtime.settings.effective_database_url):
        return EmbeddedQueue(runtime)
    return ProcrastinateQueue(runtime)
