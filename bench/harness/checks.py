"""Invariants checked in the database after a run: seats (nothing oversold, nothing lost) and
the ledger after a webhook storm (every charge once, none twice)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.database import connect

# SPEC §4: seats are given back exactly once on these; every other status holds or has sold them.
SEAT_RELEASING = ["cancelled", "expired", "refunded"]


@dataclass
class CabinCheck:
    label: str
    capacity: int
    seats_available: int
    seats_held_or_sold: int
    bookings: int

    @property
    def oversold(self) -> int:
        return max(0, self.seats_held_or_sold - self.capacity) + max(0, -self.seats_available)

    @property
    def consistent(self) -> bool:
        return (self.seats_available + self.seats_held_or_sold == self.capacity and self.seats_available >= 0
                and self.bookings <= self.capacity)

    def describe(self) -> str:
        verdict = "ok" if self.consistent and not self.oversold else "BROKEN"
        return (f"  {self.label:<34} capacity {self.capacity:>9}  left {self.seats_available:>9}  "
                f"held/sold {self.seats_held_or_sold:>7}  bookings {self.bookings:>7}  oversold {self.oversold}  "
                f"{verdict}")


async def check_cabin(dsn: str, cabin_id: str, label: str) -> CabinCheck:
    """seats_available + seats of bookings holding or sold == capacity, never below 0."""
    connection = await connect(dsn)
    try:
        row = await connection.fetchrow(
            """
            SELECT c.capacity, c.seats_available,
                   COALESCE(SUM(b.seat_count) FILTER (WHERE b.status <> ALL($2::text[])), 0) AS held,
                   COUNT(b.id) AS bookings
            FROM cabins c LEFT JOIN bookings b ON b.cabin_id = c.id
            WHERE c.id = $1::uuid GROUP BY c.id
            """,
            cabin_id, SEAT_RELEASING,
        )
    finally:
        await connection.close()
    assert row is not None, f"cabin {cabin_id} not found"
    return CabinCheck(label, row["capacity"], row["seats_available"], int(row["held"]), int(row["bookings"]))


@dataclass
class LedgerCheck:
    figures: dict[str, int]

    @property
    def errors(self) -> int:
        """Ledger errors: duplicates, missing charges, bookings charged twice, events left unprocessed,
        repeated status history."""
        f = self.figures
        return (f["duplicate_entries"] + f["missing_charges"] + f["bookings_charged_twice"] + f["unprocessed_events"]
                + f["duplicate_history_rows"])

    def describe(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.figures.items())


async def check_ledger(dsn: str, booking_ids: list[str]) -> LedgerCheck:
    """After a webhook storm over `booking_ids`: one charge each, no entry twice, every event processed."""
    connection = await connect(dsn)
    ids: Any = booking_ids
    try:
        charges = await connection.fetchval(
            "SELECT count(*) FROM ledger_entries WHERE type = 'charge' AND booking_id = ANY($1::uuid[])", ids)
        duplicates = await connection.fetchval(
            "SELECT count(*) FROM (SELECT type, provider_object_id FROM ledger_entries "
            "WHERE booking_id = ANY($1::uuid[]) GROUP BY 1, 2 HAVING count(*) > 1) d", ids)
        per_booking = await connection.fetchval(
            "SELECT count(*) FROM (SELECT booking_id FROM ledger_entries WHERE type = 'charge' "
            "AND booking_id = ANY($1::uuid[]) GROUP BY 1 HAVING count(*) > 1) d", ids)
        confirmed = await connection.fetchval(
            "SELECT count(*) FROM bookings WHERE status = 'confirmed' AND id = ANY($1::uuid[])", ids)
        unprocessed = await connection.fetchval("SELECT count(*) FROM stripe_events WHERE NOT processed")
        history_dupes = await connection.fetchval(
            "SELECT count(*) FROM (SELECT booking_id, to_status FROM booking_status_history "
            "WHERE booking_id = ANY($1::uuid[]) GROUP BY 1, 2 HAVING count(*) > 1) d", ids)
    finally:
        await connection.close()
    return LedgerCheck({"bookings": len(booking_ids), "charges": charges, "duplicate_entries": duplicates,
                        "bookings_charged_twice": per_booking, "missing_charges": len(booking_ids) - charges,
                        "confirmed": confirmed, "unprocessed_events": unprocessed,
                        "duplicate_history_rows": history_dupes})
