"""What the queue looks like from outside: depth by queue and status (the `ais_jobs_queue_depth`
gauge, sampled by every worker) and the `queue` check of `/health/ready`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from ais.db.base import utcnow
from ais.db.unit_of_work import UnitOfWork
from ais.db.urls import is_sqlite
from ais.jobs import repository
from ais.ops.metrics import JOB_QUEUE_DEPTH
from ais.runtime import Runtime

_log = structlog.get_logger("ais.jobs")
# Readiness says `degraded` when jobs wait and no worker has beaten for NO_WORKER_AFTER, or the
# oldest due job waits BACKLOG_AFTER whatever the workers do.
NO_WORKER_AFTER = timedelta(seconds=60)
BACKLOG_AFTER = timedelta(minutes=5)
_seen: set[tuple[str, str]] = set()


def embedded(runtime: Runtime) -> bool:
    return is_sqlite(runtime.settings.effective_database_url)


async def queue_depth(runtime: Runtime) -> list[tuple[str, str, int]]:
    async with UnitOfWork(runtime) as uow:
        if embedded(runtime):
            return await repository.embedded_depth(uow.session)
        return await repository.procrastinate_depth(uow.session)


async def sample_queue_depth(runtime: Runtime) -> None:
    try:
        depth = await queue_depth(runtime)
    except Exception:
        _log.warning("queue_depth_unavailable", exc_info=True)
        return
    now = {(queue, status): count for queue, status, count in depth}
    for labels in _seen - now.keys():
        JOB_QUEUE_DEPTH.labels(*labels).set(0)
    for (queue, status), count in now.items():
        JOB_QUEUE_DEPTH.labels(queue, status).set(count)
    _seen.update(now)


async def queue_check(runtime: Runtime) -> dict[str, Any]:
    """`{status: ok|degraded, engine, due, oldestDueSeconds, lastHeartbeatSeconds?, detail?}`."""
    now = utcnow()
    async with UnitOfWork(runtime) as uow:
        if embedded(runtime):
            oldest = await repository.oldest_due_embedded_job(uow.session)
            heartbeat = None
        else:
            oldest = await repository.oldest_due_procrastinate_job(uow.session)
            heartbeat = await repository.latest_worker_heartbeat(uow.session)
    waited = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    result: dict[str, Any] = {"status": "ok", "engine": "embedded" if embedded(runtime) else "procrastinate",
                              "oldestDueSeconds": round(waited, 1)}
    problems = []
    if not embedded(runtime):
        silent = (now - heartbeat).total_seconds() if heartbeat is not None else None
        result["lastHeartbeatSeconds"] = None if silent is None else round(silent, 1)
        if (silent is None or silent > NO_WORKER_AFTER.total_seconds()) and waited > NO_WORKER_AFTER.total_seconds():
            problems.append("jobs wait and no worker has beaten in 60 s")
    if waited > BACKLOG_AFTER.total_seconds():
        problems.append("the oldest due job waits over 5 minutes")
    if problems:
        result.update(status="degraded", detail="; ".join(problems))
    return result
