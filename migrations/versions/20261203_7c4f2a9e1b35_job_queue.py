"""job_queue: procrastinate's schema (PostgreSQL), AIS's record of failed job attempts, and the
embedded executor's queue (SPEC §8)

On PostgreSQL this applies the schema of the procrastinate version AIS pins (pyproject.toml).
Moving to a newer procrastinate that changes its schema takes a new revision that applies the
SQL files procrastinate ships for that step (`procrastinate/sql/migrations`). On SQLite the
procrastinate part is a no-op: embedded mode runs jobs in process from `embedded_jobs`.

Revision ID: 7c4f2a9e1b35
Revises: de6085b0673e
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.util import await_

import ais.db.base

revision: str = "7c4f2a9e1b35"
down_revision: str | None = "de6085b0673e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DROP_PROCRASTINATE = """
DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
    procrastinate_workers CASCADE;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE 'DROP FUNCTION IF EXISTS ' || r.signature || ' CASCADE';
    END LOOP;
END $$;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\_%' AND t.typtype IN ('e', 'c')
    LOOP
        EXECUTE 'DROP TYPE IF EXISTS ' || quote_ident(r.typname) || ' CASCADE';
    END LOOP;
END $$;
"""


def _run_script(sql: str) -> None:
    """A multi-statement script (functions with `$$` bodies) as one simple query, in the
    migration's transaction: through the driver's own connection, not a prepared statement."""
    bind = op.get_bind()
    driver = bind.connection.driver_connection
    if bind.dialect.driver == "asyncpg":
        await_(driver.execute(sql))  # type: ignore[union-attr]
    else:
        bind.exec_driver_sql(sql)


def upgrade() -> None:
    op.create_table(
        "job_failures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("task", sa.String(length=100), nullable=False),
        sa.Column("queue", sa.String(length=100), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("failed_at", ais.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_failures")),
    )
    op.create_index(op.f("ix_job_failures_job_id"), "job_failures", ["job_id"], unique=False)
    op.create_table(
        "embedded_jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("queue_name", sa.String(length=100), nullable=False),
        sa.Column("task_name", sa.String(length=100), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("scheduled_at", ais.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("queueing_lock", sa.String(length=200), nullable=True),
        sa.Column("created_at", ais.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_embedded_jobs")),
    )
    op.create_index("ix_embedded_jobs_due", "embedded_jobs", ["status", "scheduled_at"], unique=False)
    op.create_index("ix_embedded_jobs_queueing_lock", "embedded_jobs", ["queueing_lock"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        _run_script(SchemaManager.get_schema())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _run_script(_DROP_PROCRASTINATE)
    op.drop_index("ix_embedded_jobs_queueing_lock", table_name="embedded_jobs")
    op.drop_index("ix_embedded_jobs_due", table_name="embedded_jobs")
    op.drop_table("embedded_jobs")
    op.drop_index(op.f("ix_job_failures_job_id"), table_name="job_failures")
    op.drop_table("job_failures")
