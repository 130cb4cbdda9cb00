"""Periodic jobs. In embedded mode they run inside the server process; in production
`ais scheduler` runs the same task functions (one scheduler per deployment)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import structlog

from ais.ops.correlation import new_correlation_id, set_correlation_id
from ais.ops.metrics import JOB_DURATION, JOB_RUNS
from ais.runtime import Runtime

_log = structlog.get_logger("ais.jobs")

JobFunction = Callable[[Runtime], Awaitable[int]]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every_seconds: float
    run: JobFunction
    daily_at: time | None = None  # UTC wall-clock time of a daily job (then every_seconds is 24 h)

    def seconds_until_next(self, now: datetime, *, not_before: datetime | None = None) -> float:
        """From `now`, the wait before the next run: `every_seconds`, or, for a daily job, until the
        next `daily_at` strictly after `not_before` (the run just done: never the same slot twice)."""
        if self.daily_at is None:
            return self.every_seconds
        start = max(now, not_before) if not_before is not None else now
        slot = datetime.combine(start.date(), self.daily_at.replace(tzinfo=None), tzinfo=UTC)
        if slot <= start:
            slot += timedelta(days=1)
        return max((slot - now).total_seconds(), 0.0)


def periodic_jobs() -> list[PeriodicJob]:
    from ais.bookings.tasks import complete_departed_flights, expire_stale_holds
    from ais.jobs.cleanup import cleanup_expired_records
    from ais.notifications.sender import send_due_messages
    from ais.payments.tasks import expire_lapsed_checkouts, retry_pending_refunds, retry_unprocessed_events
    from ais.reconciliation.tasks import daily_reconciliation

    return [
        PeriodicJob("expire_stale_holds", 60, expire_stale_holds),
        PeriodicJob("send_due_messages", 10, send_due_messages),
        PeriodicJob("expire_lapsed_checkouts", 60, expire_lapsed_checkouts),
        PeriodicJob("retry_unprocessed_events", 30, retry_unprocessed_events),
        PeriodicJob("retry_pending_refunds", 60, retry_pending_refunds),
        PeriodicJob("complete_departed_flights", 300, complete_departed_flights),
        PeriodicJob("cleanup_expired_records", 3600, cleanup_expired_records),
        PeriodicJob("daily_reconciliation", 24 * 3600, daily_reconciliation, daily_at=time(2, 0)),
    ]


async def run_job_once(runtime: Runtime, job: PeriodicJob) -> int | None:
    """One run with its own correlation id; an exception is logged and counted, never raised."""
    correlation_id = new_correlation_id()
    set_correlation_id(correlation_id)
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id, job=job.name)
    try:
        with JOB_DURATION.labels(job.name).time():
            changed = await job.run(runtime)
    except Exception:
        JOB_RUNS.labels(job.name, "error").inc()
        _log.exception("job_failed")
        return None
    finally:
        structlog.contextvars.unbind_contextvars("job")
    JOB_RUNS.labels(job.name, "ok").inc()
    if changed:
        _log.info("job_done", changed=changed)
    return changed


async def _loop(runtime: Runtime, job: PeriodicJob, stopping: asyncio.Event) -> None:
    # Jitter the first run of interval jobs so several jobs (or processes) do not all fire at once;
    # a daily job waits for its time of day.
    now = datetime.now(UTC)
    delay = job.seconds_until_next(now) if job.daily_at else random.uniform(0, min(job.every_seconds, 5))
    while not stopping.is_set():
        due = datetime.now(UTC) + timedelta(seconds=delay)
        try:
            await asyncio.wait_for(stopping.wait(), timeout=delay)
            return
        except TimeoutError:
            pass
        await run_job_once(runtime, job)
        delay = job.seconds_until_next(datetime.now(UTC), not_before=due)


def start_in_process_jobs(runtime: Runtime) -> Callable[[], Awaitable[None]]:
    """Start every periodic job as a task; the returned coroutine stops them gracefully."""
    stopping = asyncio.Event()
    tasks = [asyncio.create_task(_loop(runtime, job, stopping), name=job.name) for job in periodic_jobs()]

    async def stop() -> None:
        stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    return stop


async def run_scheduler(runtime: Runtime) -> None:
    """`ais scheduler`: run the periodic jobs until SIGTERM/SIGINT, then finish the current run."""
    import signal

    stop = start_in_process_jobs(runtime)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    _log.info("scheduler_started", jobs=[job.name for job in periodic_jobs()])
    await done.wait()
    _log.info("scheduler_stopping")
    await stop()
