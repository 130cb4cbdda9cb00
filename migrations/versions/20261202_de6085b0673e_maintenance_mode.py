"""maintenance_mode: the admin switch that pauses bookings and payments (SPEC §10)

Revision ID: de6085b0673e
Revises: 5d1e7a9c2b40
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import ais.db.base

revision: str = "de6085b0673e"
down_revision: str | None = "5d1e7a9c2b40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    switch = op.create_table(
        "maintenance_mode",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("retry_after_seconds", sa.Integer(), nullable=False),
        sa.Column("updated_at", ais.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_maintenance_mode_single_row")),
        sa.CheckConstraint("retry_after_seconds >= 1", name=op.f("ck_maintenance_mode_retry_after_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_mode")),
    )
    # The one row, off: every process reads it, an admin's PUT updates it under a row lock.
    op.bulk_insert(switch, [{"id": 1, "enabled": False, "message": None, "retry_after_seconds": 300,
                             "updated_at": datetime.now(UTC), "updated_by": None}])


def downgrade() -> None:
    op.drop_table("maintenance_mode")
