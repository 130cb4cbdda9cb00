"""What a benchmark puts into its scratch database before the load: the demo timetable (by the
product's own command), flights and pending payments (straight SQL, the same for every
codebase: the schema is the contract here, not the ORM classes of whichever commit runs).
Users are registered through the API (harness.api), so their passwords and tokens are the
product's own.

Bench-made booking references start with a digit 0 or 1, which the product's locator alphabet
never uses, so they can never collide with references the product draws."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.codebase import Codebase
from harness.database import cli_environment, connect

# (code, name, city, country, time zone) of the airports bench flights use when no demo data is there.
AIRPORTS = [
    ("RUH", "King Khalid International", "Riyadh", "SA", "Asia/Riyadh"),
    ("JED", "King Abdulaziz International", "Jeddah", "SA", "Asia/Riyadh"),
]


@dataclass
class SeededFlight:
    flight_id: str
    cabin_id: str
    capacity: int


async def seed_demo(codebase: Codebase, dsn: str, work_dir: Path, days: int = 30) -> None:
    """The product's demo timetable (airports, `days` days of flights on ~20 sectors), by its own command."""
    await asyncio.to_thread(codebase.ais, ["seed", "--demo", "--days", str(days)], cli_environment(dsn, work_dir),
                            work_dir)


async def seed_flights(dsn: str, specs: Sequence[dict[str, Any]]) -> list[SeededFlight]:
    """Flights with an economy and a business cabin. Each spec: capacity, and optionally origin,
    destination, departure (aware datetime), number, fare_minor."""
    now = datetime.now(UTC)
    connection = await connect(dsn)
    seeded: list[SeededFlight] = []
    try:
        async with connection.transaction():
            await connection.executemany(
                "INSERT INTO airports (code, name, city, country, timezone) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (code) DO NOTHING", AIRPORTS)
            for index, spec in enumerate(specs):
                flight_id, economy_id = uuid.uuid4(), uuid.uuid4()
                departure = spec.get("departure") or (now + timedelta(days=3)).replace(microsecond=0)
                await connection.execute(
                    "INSERT INTO flights (id, flight_number, origin, destination, departure_at, arrival_at, status, "
                    "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7, $7)",
                    flight_id, spec.get("number") or f"ZZ{9000 + index}", spec.get("origin", "RUH"),
                    spec.get("destination", "JED"), departure, departure + timedelta(hours=1, minutes=45), now)
                await connection.executemany(
                    "INSERT INTO cabins (id, flight_id, cabin_class, capacity, seats_available, fare_minor, currency) "
                    "VALUES ($1, $2, $3, $4, $4, $5, 'SAR')",
                    [(economy_id, flight_id, "economy", spec["capacity"], spec.get("fare_minor", 45000)),
                     (uuid.uuid4(), flight_id, "business", 12, 180000)])
                seeded.append(SeededFlight(str(flight_id), str(economy_id), spec["capacity"]))
    finally:
        await connection.close()
    return seeded


async def user_ids(dsn: str) -> list[str]:
    connection = await connect(dsn)
    try:
        return [str(row["id"]) for row in await connection.fetch("SELECT id FROM users ORDER BY created_at")]
    finally:
        await connection.close()


def _reference(prefix: str, number: int) -> str:
    """`prefix` and `number` in 5 base-36 digits: 6 characters, unique below 36**5 (60 million)."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    tail = ""
    for _ in range(5):
        number, rest = divmod(number, 36)
        tail = digits[rest] + tail
    return prefix + tail


@dataclass
class PendingPayment:
    booking_id: str
    payment_id: str


async def seed_pending_payments(dsn: str, count: int) -> list[PendingPayment]:
    """`count` one-passenger bookings in `pending`, each with one pending payment (as right after
    `POST /bookings/{id}/pay`), on a flight of their own whose cabin holds their seats."""
    [flight] = await seed_flights(dsn, [{"capacity": count + 10, "number": "ZZ8000"}])
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=40)
    user_id = uuid.uuid4()
    bookings, passengers, history, payments, seeded = [], [], [], [], []
    for index in range(count):
        booking_id, payment_id = uuid.uuid4(), uuid.uuid4()
        bookings.append((booking_id, _reference("1", index), user_id, uuid.UUID(flight.flight_id),
                         uuid.UUID(flight.cabin_id), expires, now))
        passengers.append((uuid.uuid4(), booking_id))
        history += [(uuid.uuid4(), booking_id, "initiated", "reserved", now),
                    (uuid.uuid4(), booking_id, "reserved", "pending", now + timedelta(microseconds=1))]
        payments.append((payment_id, booking_id, f"cs_test_{uuid.uuid4().hex}", expires, now))
        seeded.append(PendingPayment(str(booking_id), str(payment_id)))
    connection = await connect(dsn)
    try:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO users (id, email, password_hash, full_name, role, is_active, created_at) "
                "VALUES ($1, $2, '-', 'Storm', 'passenger', true, now())",
                user_id, f"storm-{user_id.hex[:8]}@example.com")
            await connection.executemany(
                "INSERT INTO bookings (id, reference, user_id, flight_id, cabin_id, cabin_class, seat_count, "
                "contact_email, total_minor, currency, status, expires_at, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, 'economy', 1, 'storm@example.com', 45000, 'SAR', 'pending', $6, $7, $7)",
                bookings)
            await connection.executemany(
                "INSERT INTO passengers (id, booking_id, position, first_name, last_name, type) "
                "VALUES ($1, $2, 0, 'Storm', 'Test', 'adult')", passengers)
            await connection.executemany(
                "INSERT INTO booking_status_history (id, booking_id, from_status, to_status, reason, actor, at) "
                "VALUES ($1, $2, $3, $4, 'seed', 'bench', $5)", history)
            await connection.executemany(
                "INSERT INTO payments (id, booking_id, attempt, provider, checkout_session_id, amount_minor, currency, "
                "status, expires_at, created_at, updated_at) "
                "VALUES ($1, $2, 1, 'stripe', $3, 45000, 'SAR', 'pending', $4, $5, $5)", payments)
            await connection.execute("UPDATE cabins SET seats_available = seats_available - $2 WHERE id = $1",
                                     uuid.UUID(flight.cabin_id), count)
    finally:
        await connection.close()
    return seeded
