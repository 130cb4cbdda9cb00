"""passengers.checkin_sequence (boarding passes issued again) and outbox_messages.body_html

Revision ID: 5d2e8a41c7f3
Revises: bb326c137c81
Create Date: 2026-11-30 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d2e8a41c7f3"
down_revision: str | None = "bb326c137c81"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The seat maps check-in used until now (seat = nth seat of the cabin, 1-based): business rows
# from 1 with seats ACDF, economy rows from 10 with seats ABCDEF. Written out here rather than
# imported, so that this migration keeps meaning what it meant when it was written.
_LAYOUT = {"business": (1, "ACDF"), "economy": (10, "ABCDEF")}


def _sequence_of(cabin: str, seat: str) -> int | None:
    first_row, letters = _LAYOUT.get(cabin, (None, ""))
    row, letter = seat[:-1], seat[-1:]
    if first_row is None or not row.isdigit() or letter not in letters:
        return None
    return (int(row) - first_row) * len(letters) + letters.index(letter) + 1


def upgrade() -> None:
    with op.batch_alter_table("passengers") as batch:
        batch.add_column(sa.Column("checkin_sequence", sa.Integer(), nullable=True))
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("body_html", sa.Text(), nullable=True))

    # Passengers already checked in: their sequence number follows from the seat they were given.
    passengers = sa.table(
        "passengers", sa.column("id", sa.Uuid()), sa.column("booking_id", sa.Uuid()),
        sa.column("seat_number", sa.String()), sa.column("checkin_sequence", sa.Integer()),
    )
    bookings = sa.table("bookings", sa.column("id", sa.Uuid()), sa.column("cabin_class", sa.String()))
    connection = op.get_bind()
    seated = connection.execute(
        sa.select(passengers.c.id, passengers.c.seat_number, bookings.c.cabin_class)
        .join_from(passengers, bookings, passengers.c.booking_id == bookings.c.id)
        .where(passengers.c.seat_number.is_not(None))
    ).all()
    for passenger_id, seat, cabin in seated:
        sequence = _sequence_of(cabin, seat)
        if sequence is not None:
            connection.execute(
                passengers.update().where(passengers.c.id == passenger_id).values(checkin_sequence=sequence)
            )


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("body_html")
    with op.batch_alter_table("passengers") as batch:
        batch.drop_column("checkin_sequence")
