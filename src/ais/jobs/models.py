"""What AIS keeps about its jobs in its own tables (SPEC §8), in both modes.

- `job_failures`: every failed attempt of a job with its error. Procrastinate keeps no error text,
  so this is where `ais jobs` finds `lastError`, on PostgreSQL and on SQLite alike.
- `embedded_jobs`: the queue of the in-process executor in embedded mode (SQLite, one machine):
  the same columns procrastinate's `procrastinate_jobs` has, so `ais jobs` reads either the same
  way. On PostgreSQL the table exists (one schema for both databases) and stays empty.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ais.db.base import Base, utcnow


class JobFailure(Base):
    __tablename__ = "job_failures"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    job_id: Mapped[int] = mapped_column(BigInteger, index=True)
    task: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(100))
    attempt: Mapped[int]
    final: Mapped[bool]  # the last attempt: the job stays `failed`
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmbeddedJob(Base):
    __tablename__ = "embedded_jobs"
    __table_args__ = (
        Index("ix_embedded_jobs_due", "status", "scheduled_at"),
        Index("ix_embedded_jobs_queueing_lock", "queueing_lock"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    queue_name: Mapped[str] = mapped_column(String(100))
    task_name: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))  # todo | doing | succeeded | failed (procrastinate's names)
    attempts: Mapped[int] = mapped_column(default=0)
    scheduled_at: Mapped[datetime]
    queueing_lock: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
