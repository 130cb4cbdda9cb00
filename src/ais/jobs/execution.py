"""One attempt of one job, the same in both engines: its own correlation id (the request's, when a
request deferred it), its duration and outcome in the metrics, a log line, and, when it fails, the
attempt and its error in `job_failures` (procrastinate keeps no error text)."""

from __future__ import annotations

import time
from typing import Any

import structlog

from ais.db.unit_of_work import UnitOfWork
from ais.jobs import repository
from ais.jobs.schedule import TaskSpec
from ais.ops.correlation import new_correlation_id, set_correlation_id
from ais.ops.metrics import JOB_DURATION, JOB_RUNS
from ais.runtime import Runtime

_log = structlog.get_logger("ais.jobs")
CORRELATION_ARG = "correlation_id"


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def run_attempt(runtime: Runtime, spec: TaskSpec, args: dict[str, Any], *, job_id: int,
                      previous_attempts: int) -> int:
    """Run the task once; re-raise its exception after recording it (the engine then retries it, or
    keeps the job `failed` when it was the last attempt)."""
    arguments = {name: value for name, value in args.items() if name not in (CORRELATION_ARG, "timestamp")}
    correlation_id = str(args.get(CORRELATION_ARG) or new_correlation_id())
    set_correlation_id(correlation_id)
    attempt = previous_attempts + 1
    final = previous_attempts >= spec.retries
    with structlog.contextvars.bound_contextvars(correlation_id=correlation_id, job=spec.name, job_id=job_id):
        started = time.perf_counter()
        try:
            changed = await spec.run(runtime, **arguments)
        except Exception as exc:
            JOB_DURATION.labels(spec.name).observe(time.perf_counter() - started)
            JOB_RUNS.labels(spec.name, "error").inc()
            error = describe(exc)
            _log.warning("job_failed", attempt=attempt, final=final, error=error,
                         retry_in=None if final else spec.retry_delay(attempt))
            await _record(runtime, spec, job_id=job_id, attempt=attempt, final=final, error=error)
            if final and spec.on_exhausted is not None:
                await spec.on_exhausted(runtime, **arguments)
            raise
        JOB_DURATION.labels(spec.name).observe(time.perf_counter() - started)
        JOB_RUNS.labels(spec.name, "ok").inc()
        if changed:
            _log.info("job_done", changed=changed)
        return changed


async def _record(runtime: Runtime, spec: TaskSpec, *, job_id: int, attempt: int, final: bool, error: str) -> None:
    try:
        async with UnitOfWork(runtime) as uow:
            repository.record_failure(uow.session, job_id=job_id, task=spec.name, queue=spec.queue, attempt=attempt,
                                      final=final, error=error)
    except Exception:  # the database is what failed: the engine still retries the job
        _log.warning("job_failure_not_recorded", exc_info=True)
