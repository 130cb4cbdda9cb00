"""users.token_version: access tokens stop being honoured after logout-all, deactivation or a role change

Revision ID: 5d1e7a9c2b40
Revises: 5d2e8a41c7f3
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d1e7a9c2b40"
down_revision: str | None = "5d2e8a41c7f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The server default fills existing rows, so the column can be NOT NULL at once. A plain ALTER
    # TABLE on both databases: batch mode would rebuild `users` on SQLite, which its foreign keys
    # (bookings, refresh tokens, ...) refuse once the table has rows.
    op.add_column("users", sa.Column("token_version", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    op.drop_column("users", "token_version")  # SQLite 3.35+ drops a column in place
