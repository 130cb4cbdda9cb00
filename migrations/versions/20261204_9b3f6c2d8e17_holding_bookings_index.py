"""holding_bookings_index: the hold limit counts a user's bookings by status and hold expiry

Every booking creation sums the seats of the user's unpaid bookings whose hold has not lapsed
(SPEC §4). By (user_id, created_at) that read visits every booking the user ever made; by
(user_id, status, expires_at) only the few that hold seats.

Revision ID: 9b3f6c2d8e17
Revises: 7c4f2a9e1b35
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9b3f6c2d8e17"
down_revision: str | None = "7c4f2a9e1b35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_bookings_user_status_expires", "bookings", ["user_id", "status", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_bookings_user_status_expires", table_name="bookings")
