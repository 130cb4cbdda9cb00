"""Hourly cleanup: expired idempotency records, refresh tokens past their life, finished jobs."""

from __future__ import annotations

from datetime import timedelta

from ais.db.base import utcnow
from ais.db.unit_of_work import UnitOfWork
from ais.jobs import repository
from ais.runtime import Runtime

# Revoked/rotated tokens are kept a while so that reuse of a rotated token is still detected.
_ROTATED_TOKEN_GRACE = timedelta(days=7)
# Finished jobs (and the errors of their attempts) stay this long for `ais jobs`.
KEEP_FINISHED_JOBS = timedelta(days=7)


async def cleanup_expired_records(runtime: Runtime) -> int:
    now = utcnow()
    async with UnitOfWork(runtime) as uow:
        removed = await repository.delete_expired_idempotency_records(uow.session, now)
        removed += await repository.delete_spent_refresh_tokens(uow.session, now, _ROTATED_TOKEN_GRACE)
        await repository.delete_finished_embedded_jobs(uow.session, now - KEEP_FINISHED_JOBS)
        await repository.delete_old_job_failures(uow.session, now - KEEP_FINISHED_JOBS)
    if runtime.jobs is not None:
        await runtime.jobs.prune(KEEP_FINISHED_JOBS)
    return removed
