"""The job engine on PostgreSQL: a procrastinate App with every task of `schedule.TASKS`, its
periodic tasks (fired once per tick across all workers: procrastinate's periodic defers are
unique per task and tick, and a queueing lock keeps one waiting at most), and stalled-job
recovery: a worker that stops beating (SIGKILL, a lost machine) has its running jobs retried by
another worker."""

from __future__ import annotations

import logging
from typing import Any

import procrastinate
import structlog
from procrastinate import JobContext, PsycopgConnector, RetryStrategy
from sqlalchemy.engine import make_url

from ais.jobs.execution import run_attempt
from ais.jobs.schedule import TASKS, TaskSpec
from ais.runtime import Runtime

_log = structlog.get_logger("ais.jobs")
# A worker beats every HEARTBEAT_SECONDS; one silent for STALLED_AFTER_SECONDS is taken as dead,
# and its running jobs are retried by the `retry_stalled_jobs` periodic task of any other worker.
HEARTBEAT_SECONDS = 5.0
STALLED_AFTER_SECONDS = 20.0
SHUTDOWN_GRACE_SECONDS = 30.0  # SIGTERM: finish the current jobs within this, then stop


class _OwnJobLines(logging.Filter):
    """AIS logs each job's outcome itself (`job_failed`, `job_done`, with the correlation id and no
    stack trace): procrastinate's own per-job lines would say it again, traceback included."""

    PER_JOB = frozenset({"start_job", "job_success", "job_error", "job_error_retry", "finish_task",
                         "loaded_job_info", "periodic_task_deferred"})

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "action", None) not in self.PER_JOB


_FILTER = _OwnJobLines()


def conninfo(database_url: str) -> str:
    """The libpq URL psycopg takes, from any form of DATABASE_URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(runtime: Runtime, *, pool_size: int) -> procrastinate.App:
    settings = runtime.settings
    connector = PsycopgConnector(
        conninfo=conninfo(settings.effective_database_url), min_size=1, max_size=pool_size,
        kwargs={"connect_timeout": int(settings.db_connect_timeout_seconds)},
    )
    app = procrastinate.App(connector=connector)
    for name in ("procrastinate", "procrastinate.worker", "procrastinate.periodic"):
        if _FILTER not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(_FILTER)
    for spec in TASKS:
        _register(app, runtime, spec)
    _register(app, runtime, TaskSpec("retry_stalled_jobs", _stalled_job_recovery(app), cron="* * * * * */10"))
    return app


def _register(app: procrastinate.App, runtime: Runtime, spec: TaskSpec) -> None:
    async def job(context: JobContext, **args: Any) -> int:
        assert context.job.id is not None
        return await run_attempt(runtime, spec, args, job_id=context.job.id, previous_attempts=context.job.attempts)

    retry: RetryStrategy | bool = (RetryStrategy(max_attempts=spec.retries, exponential_wait=spec.backoff)
                                   if spec.retries else False)
    task = app.task(name=spec.name, queue=spec.queue, pass_context=True, retry=retry,
                    queueing_lock=spec.name if spec.cron else None)(job)
    if spec.cron:
        app.periodic(cron=spec.cron, periodic_id=spec.name)(task)  # type: ignore[arg-type]  # takes **args


def _stalled_job_recovery(app: procrastinate.App) -> Any:
    async def retry_stalled_jobs(runtime: Runtime) -> int:
        stalled = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS))
        for job in stalled:
            _log.warning("job_stalled_retried", stalled_job_id=job.id, task=job.task_name)
            await app.job_manager.retry_job(job)
        return len(stalled)

    return retry_stalled_jobs


async def run_worker(app: procrastinate.App, *, concurrency: int, install_signal_handlers: bool,
                     name: str = "ais-worker") -> None:
    """Work until stopped (SIGTERM/SIGINT when `install_signal_handlers`, else cancellation):
    take no new job, give the running ones SHUTDOWN_GRACE_SECONDS, then return."""
    await app.run_worker_async(
        concurrency=concurrency, install_signal_handlers=install_signal_handlers, name=name,
        shutdown_graceful_timeout=SHUTDOWN_GRACE_SECONDS, update_heartbeat_interval=HEARTBEAT_SECONDS,
        stalled_worker_timeout=STALLED_AFTER_SECONDS, delete_jobs="never", wait=True,
    )
