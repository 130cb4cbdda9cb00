"""All SQL of the jobs package: the failure record, the embedded executor's queue, reading
procrastinate's queue for `ais jobs`, and the hourly cleanup."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, String, cast, column, delete, func, or_, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession

from ais.db.base import utcnow
from ais.idempotency.models import IdempotencyRecord
from ais.identity.models import RefreshToken, TokenStatus
from ais.jobs.models import EmbeddedJob, JobFailure

# procrastinate's own table, only the columns `ais jobs` reads (its schema is procrastinate's).
_procrastinate_jobs = table(
    "procrastinate_jobs", column("id", BigInteger), column("queue_name", String), column("task_name", String),
    column("status", String), column("attempts", Integer), column("scheduled_at", DateTime(timezone=True)),
    column("queueing_lock", String),
)
# A job that waits or runs holds its queueing lock: no second one is deferred beside it.
_HOLDS_ITS_LOCK = ("todo", "doing")
_procrastinate_events = table("procrastinate_events", column("job_id", BigInteger), column("type", String),
                              column("at", DateTime(timezone=True)))
_procrastinate_workers = table("procrastinate_workers", column("id", BigInteger),
                               column("last_heartbeat", DateTime(timezone=True)))


@dataclass(frozen=True)
class JobRow:
    id: int
    task: str
    status: str
    attempts: int
    scheduled_at: datetime | None
    queue: str


# --- failures (both modes) ----------------------------------------------------------------------


def record_failure(session: AsyncSession, *, job_id: int, task: str, queue: str, attempt: int, final: bool,
                   error: str) -> None:
    session.add(JobFailure(id=uuid.uuid4(), job_id=job_id, task=task, queue=queue, attempt=attempt, final=final,
                           error=error[:4000], failed_at=utcnow()))


async def last_errors(session: AsyncSession, job_ids: list[int]) -> dict[int, str]:
    """The error of each job's latest failed attempt."""
    if not job_ids:
        return {}
    latest = (select(JobFailure.job_id, func.max(JobFailure.failed_at).label("at"))
              .where(JobFailure.job_id.in_(job_ids)).group_by(JobFailure.job_id).subquery())
    rows = await session.execute(
        select(JobFailure.job_id, JobFailure.error)
        .join(latest, (latest.c.job_id == JobFailure.job_id) & (latest.c.at == JobFailure.failed_at)))
    return {int(job_id): error for job_id, error in rows.all()}


async def failures_of(session: AsyncSession, job_id: int) -> list[JobFailure]:
    return list((await session.scalars(
        select(JobFailure).where(JobFailure.job_id == job_id).order_by(JobFailure.failed_at))).all())


# --- procrastinate's queue (PostgreSQL) ---------------------------------------------------------


async def procrastinate_jobs(session: AsyncSession, *, status: str | None, limit: int) -> list[JobRow]:
    jobs = _procrastinate_jobs
    query = select(jobs.c.id, jobs.c.task_name, cast(jobs.c.status, String), jobs.c.attempts, jobs.c.scheduled_at,
                   jobs.c.queue_name).order_by(jobs.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(cast(jobs.c.status, String) == status)
    return [JobRow(*row) for row in (await session.execute(query)).all()]


async def procrastinate_depth(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(queue, status, jobs) for the jobs still waiting or running."""
    jobs = _procrastinate_jobs
    status = cast(jobs.c.status, String)
    rows = await session.execute(select(jobs.c.queue_name, status, func.count())
                                 .where(status.in_(("todo", "doing"))).group_by(jobs.c.queue_name, status))
    return [(queue, state, int(count)) for queue, state, count in rows.all()]


async def oldest_due_procrastinate_job(session: AsyncSession) -> datetime | None:
    """Since when the longest-waiting due job waits: its schedule, or when it was deferred."""
    jobs, events = _procrastinate_jobs, _procrastinate_events
    deferred = (events.c.job_id == jobs.c.id) & (cast(events.c.type, String) == "deferred")
    return await session.scalar(
        select(func.min(func.coalesce(jobs.c.scheduled_at, events.c.at)))
        .select_from(jobs.outerjoin(events, deferred))
        .where(cast(jobs.c.status, String) == "todo",
               or_(jobs.c.scheduled_at.is_(None), jobs.c.scheduled_at <= func.now())))


async def latest_worker_heartbeat(session: AsyncSession) -> datetime | None:
    return await session.scalar(select(func.max(_procrastinate_workers.c.last_heartbeat)))


async def procrastinate_lock_held(session: AsyncSession, queueing_lock: str) -> bool:
    """A job with this queueing lock waits or runs. procrastinate's own unique index covers only
    waiting jobs: a second job deferred while the first runs would make the first's retry
    (back to waiting) violate it, and leave that job stuck as running."""
    jobs = _procrastinate_jobs
    return await session.scalar(
        select(jobs.c.id).where(jobs.c.queueing_lock == queueing_lock,
                                cast(jobs.c.status, String).in_(_HOLDS_ITS_LOCK)).limit(1)) is not None


async def procrastinate_job_exists(session: AsyncSession, job_id: int) -> str | None:
    return await session.scalar(select(cast(_procrastinate_jobs.c.status, String))
                                .where(_procrastinate_jobs.c.id == job_id))


# --- the embedded executor's queue (SQLite) -----------------------------------------------------


async def insert_embedded_job(session: AsyncSession, *, task: str, queue: str, args: dict[str, Any],
                              queueing_lock: str | None, scheduled_at: datetime | None = None) -> int | None:
    """A new job, unless one with the same queueing lock waits or runs (then None)."""
    if queueing_lock is not None and await session.scalar(
            select(EmbeddedJob.id).where(EmbeddedJob.queueing_lock == queueing_lock,
                                         EmbeddedJob.status.in_(_HOLDS_ITS_LOCK)).limit(1)) is not None:
        return None
    job = EmbeddedJob(task_name=task, queue_name=queue, args=args, status="todo", attempts=0,
                      scheduled_at=scheduled_at or utcnow(), queueing_lock=queueing_lock, created_at=utcnow())
    session.add(job)
    await session.flush()
    return job.id


async def due_embedded_jobs(session: AsyncSession, now: datetime, limit: int) -> list[EmbeddedJob]:
    return list((await session.scalars(
        select(EmbeddedJob).where(EmbeddedJob.status == "todo", EmbeddedJob.scheduled_at <= now)
        .order_by(EmbeddedJob.scheduled_at, EmbeddedJob.id).limit(limit))).all())


async def embedded_job(session: AsyncSession, job_id: int) -> EmbeddedJob | None:
    return await session.get(EmbeddedJob, job_id)


async def next_embedded_due(session: AsyncSession) -> datetime | None:
    return await session.scalar(select(func.min(EmbeddedJob.scheduled_at)).where(EmbeddedJob.status == "todo"))


async def requeue_running_embedded_jobs(session: AsyncSession) -> int:
    """Jobs left `doing` by an executor that died (only one runs at a time): to do again."""
    result = await session.execute(update(EmbeddedJob).where(EmbeddedJob.status == "doing")
                                   .values(status="todo", scheduled_at=utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def embedded_jobs(session: AsyncSession, *, status: str | None, limit: int) -> list[JobRow]:
    query = select(EmbeddedJob).order_by(EmbeddedJob.id.desc()).limit(limit)
    if status is not None:
        query = query.where(EmbeddedJob.status == status)
    return [JobRow(job.id, job.task_name, job.status, job.attempts, job.scheduled_at, job.queue_name)
            for job in (await session.scalars(query)).all()]


async def embedded_depth(session: AsyncSession) -> list[tuple[str, str, int]]:
    rows = await session.execute(select(EmbeddedJob.queue_name, EmbeddedJob.status, func.count())
                                 .where(EmbeddedJob.status.in_(("todo", "doing")))
                                 .group_by(EmbeddedJob.queue_name, EmbeddedJob.status))
    return [(queue, state, int(count)) for queue, state, count in rows.all()]


async def oldest_due_embedded_job(session: AsyncSession) -> datetime | None:
    return await session.scalar(select(func.min(EmbeddedJob.scheduled_at)).where(EmbeddedJob.status == "todo"))


async def delete_finished_embedded_jobs(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(EmbeddedJob).where(EmbeddedJob.status == "succeeded",
                                                             EmbeddedJob.created_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- hourly cleanup -----------------------------------------------------------------------------


async def delete_expired_idempotency_records(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_spent_refresh_tokens(session: AsyncSession, now: datetime, rotated_grace: timedelta) -> int:
    """Tokens past their life, and revoked/rotated ones older than the grace that still lets reuse
    of a rotated token be detected."""
    result = await session.execute(delete(RefreshToken).where(or_(
        RefreshToken.expires_at < now,
        (RefreshToken.status != TokenStatus.ACTIVE) & (RefreshToken.created_at < now - rotated_grace),
    )))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_old_job_failures(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(JobFailure).where(JobFailure.failed_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
