"""The in-process executor of embedded mode (SQLite, one machine by definition): the same task
functions as procrastinate runs on PostgreSQL, from the `embedded_jobs` table.

- One executor per data dir: it holds an exclusive lock on `$AIS_DATA_DIR/jobs.lock`, so with
  `ais serve --workers N` only one process runs jobs (another takes over if that one dies).
- A defer in the executor's own process wakes it at once; other processes' defers are found
  within POLL_SECONDS. Periodic tasks are deferred on their cron ticks (the last tick missed
  within 10 minutes at start-up, as procrastinate does).
- Retries with exponential backoff (`TaskSpec.retries`, `backoff`); the last failure leaves the
  job `failed`. Jobs a dead executor left `doing` are done again at start-up.
- Stopping: no new job starts, the running ones get SHUTDOWN_GRACE_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from datetime import timedelta
from typing import IO

import structlog
from croniter import croniter

from ais.db.base import utcnow
from ais.db.unit_of_work import UnitOfWork
from ais.jobs import repository
from ais.jobs.execution import run_attempt
from ais.jobs.monitoring import sample_queue_depth
from ais.jobs.queue import EmbeddedQueue
from ais.jobs.schedule import BY_NAME, PERIODIC, TaskSpec
from ais.runtime import Runtime

_log = structlog.get_logger("ais.jobs")
POLL_SECONDS = 0.5
LOCK_RETRY_SECONDS = 2.0
SHUTDOWN_GRACE_SECONDS = 30.0
CATCH_UP_SECONDS = 600.0
SAMPLE_SECONDS = 10.0


def _try_lock(path: os.PathLike[str]) -> IO[bytes] | None:
    handle = open(path, "ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


class EmbeddedExecutor:
    def __init__(self, runtime: Runtime, *, concurrency: int = 4) -> None:
        self.runtime = runtime
        self.concurrency = max(concurrency, 1)
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()
        self.running: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Run jobs until `stop()`; waits (quietly) while another process holds the lock."""
        lock = await self._acquire()
        if lock is None:
            return
        queue = self.runtime.jobs
        if isinstance(queue, EmbeddedQueue):
            queue.wake = self.wake
        try:
            async with UnitOfWork(self.runtime) as uow:
                requeued = await repository.requeue_running_embedded_jobs(uow.session)
            _log.info("embedded_executor_started", requeued=requeued, concurrency=self.concurrency)
            ticker = asyncio.create_task(self._periodic(), name="embedded-periodic")
            sampler = asyncio.create_task(self._sample(), name="embedded-sampler")
            try:
                await self._work()
            finally:
                ticker.cancel()
                sampler.cancel()
                await asyncio.gather(ticker, sampler, return_exceptions=True)
                await self._drain()
        finally:
            if isinstance(queue, EmbeddedQueue):
                queue.wake = None
            lock.close()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    async def _acquire(self) -> IO[bytes] | None:
        directory = self.runtime.settings.ais_data_dir
        directory.mkdir(parents=True, exist_ok=True)
        while not self.stopping.is_set():
            lock = _try_lock(directory / "jobs.lock")
            if lock is not None:
                return lock
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), LOCK_RETRY_SECONDS)
        return None

    async def _work(self) -> None:
        while not self.stopping.is_set():
            free = self.concurrency - len(self.running)
            started: list[tuple[int, str, dict[str, object], int]] = []
            if free > 0:
                try:
                    async with UnitOfWork(self.runtime) as uow:
                        jobs = await repository.due_embedded_jobs(uow.session, utcnow(), free)
                        for job in jobs:
                            job.status = "doing"
                        started = [(job.id, job.task_name, dict(job.args), job.attempts) for job in jobs]
                except Exception:  # the database is busy or away: try again at the next poll
                    _log.warning("embedded_jobs_unavailable", exc_info=True)
                    started = []
                for job_id, task, args, attempts in started:
                    runner = asyncio.create_task(self._run_one(job_id, task, args, attempts), name=f"job-{job_id}")
                    self.running.add(runner)
                    runner.add_done_callback(self._finished)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        self.wake.set()  # a slot is free

    async def _run_one(self, job_id: int, task: str, args: dict[str, object], attempts: int) -> None:
        spec = BY_NAME.get(task)
        try:
            if spec is None:
                raise LookupError(f"no task named {task!r}")
            await run_attempt(self.runtime, spec, dict(args), job_id=job_id, previous_attempts=attempts)
        except Exception:
            await self._settle(job_id, spec, failed=True)
        else:
            await self._settle(job_id, spec, failed=False)

    async def _settle(self, job_id: int, spec: TaskSpec | None, *, failed: bool) -> None:
        try:
            async with UnitOfWork(self.runtime) as uow:
                job = await repository.embedded_job(uow.session, job_id)
                if job is None:
                    return
                if not failed:
                    job.status = "succeeded"
                    return
                job.attempts += 1
                if spec is None or job.attempts > spec.retries:
                    job.status = "failed"
                else:
                    job.status = "todo"
                    job.scheduled_at = utcnow() + timedelta(seconds=spec.retry_delay(job.attempts))
        except Exception:  # left `doing`: done again when the executor next starts
            _log.warning("embedded_job_not_settled", job_id=job_id, exc_info=True)

    async def _drain(self) -> None:
        if not self.running:
            return
        _, pending = await asyncio.wait(set(self.running), timeout=SHUTDOWN_GRACE_SECONDS)
        for task in pending:
            task.cancel()  # left `doing`: done again at the next start

    async def _periodic(self) -> None:
        """Defer each periodic task on its ticks (its queueing lock: one waiting at most)."""
        now = time.time()
        upcoming: dict[str, float] = {}
        for spec in PERIODIC:
            assert spec.cron is not None
            previous = croniter(spec.cron, now).get_prev(float)
            if now - previous <= CATCH_UP_SECONDS:
                await self._defer_tick(spec)
            upcoming[spec.name] = croniter(spec.cron, now).get_next(float)
        while True:
            due_at = min(upcoming.values())
            await asyncio.sleep(max(due_at - time.time(), 0.0))
            now = time.time()
            for spec in PERIODIC:
                if upcoming[spec.name] <= now:
                    await self._defer_tick(spec)
                    assert spec.cron is not None
                    upcoming[spec.name] = croniter(spec.cron, now).get_next(float)

    async def _defer_tick(self, spec: TaskSpec) -> None:
        try:
            await self.runtime.defer(spec.name, queueing_lock=spec.name)
        except Exception:
            _log.warning("periodic_defer_failed", task=spec.name, exc_info=True)

    async def _sample(self) -> None:
        while True:
            await sample_queue_depth(self.runtime)
            await asyncio.sleep(SAMPLE_SECONDS)


