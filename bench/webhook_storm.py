"""Webhook storm: thousands of signed Stripe events, half of them duplicates, over HTTP against a
server on PostgreSQL; then the ledger check (0 duplicate entries, 0 missing charges).

Each booking gets two distinct events that describe the same money (`checkout.session.completed`
and `payment_intent.succeeded`, as Stripe sends them), and every event is sent twice, so the
ledger's uniqueness and the inbox's de-duplication both work under concurrency. Bookings and
their pending payments are inserted straight into the database first (the pay flow has its own
tests); the events are signed exactly as Stripe signs them.

    .venv/bin/python bench/webhook_storm.py [--bookings 1500] [--clients 16] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bench.harness import (
    percentile,
    rss_mb,
    scratch_database,
    seed_flights,
    start_server,
    stop_server,
)

WEBHOOK_SECRET = "whsec_bench_" + uuid.uuid4().hex
SECRET_KEY = "sk_test_bench_" + uuid.uuid4().hex
TARGET_EVENTS_PER_SECOND = 1000


async def seed_pending_bookings(dsn: str, count: int) -> list[dict[str, object]]:
    """`count` bookings in `pending` with one pending payment each (as after POST /pay)."""
    from ais.bookings.models import Booking, BookingStatusChange, Passenger
    from ais.bookings.rules import BookingStatus
    from ais.config import Settings
    from ais.db.base import utcnow
    from ais.flights.models import CabinClass
    from ais.identity.models import User
    from ais.payments.models import Payment, PaymentStatus
    from ais.runtime import Runtime

    [flight] = await seed_flights(dsn, [{"capacity": count + 10}])
    runtime = Runtime.create(Settings(_env_file=None, database_url=dsn, log_level="WARNING"))  # type: ignore[call-arg]
    rows: list[dict[str, object]] = []
    try:
        async with runtime.session_factory() as session:
            user = User(email=f"storm-{uuid.uuid4().hex[:8]}@example.com", password_hash="-", full_name="Storm")
            session.add(user)
            await session.flush()
            now = utcnow()
            for index in range(count):
                booking_id, payment_id = uuid.uuid4(), uuid.uuid4()
                reference = f"{index:06d}"[-6:].translate(str.maketrans("0123456789", "ABCDEFGHJK"))
                session.add(Booking(
                    id=booking_id, reference=reference, user_id=user.id, flight_id=uuid.UUID(flight.flight_id),
                    cabin_id=uuid.UUID(flight.cabin_id), cabin_class=CabinClass.ECONOMY, seat_count=1,
                    contact_email="storm@example.com", total_minor=45000, currency="SAR",
                    status=BookingStatus.PENDING, expires_at=now + timedelta(minutes=40), created_at=now,
                    updated_at=now))
                session.add(Passenger(booking_id=booking_id, position=0, first_name="Storm", last_name="Test",
                                      type="adult"))
                session.add(BookingStatusChange(booking_id=booking_id, from_status=BookingStatus.INITIATED,
                                                to_status=BookingStatus.RESERVED, reason="seed", actor="bench",
                                                at=now))
                session.add(BookingStatusChange(booking_id=booking_id, from_status=BookingStatus.RESERVED,
                                                to_status=BookingStatus.PENDING, reason="seed", actor="bench",
                                                at=now + timedelta(microseconds=1)))
                session.add(Payment(id=payment_id, booking_id=booking_id, attempt=1,
                                    checkout_session_id=f"cs_test_{uuid.uuid4().hex}", amount_minor=45000,
                                    currency="SAR", status=PaymentStatus.PENDING,
                                    expires_at=now + timedelta(minutes=40)))
                rows.append({"booking_id": str(booking_id), "payment_id": str(payment_id)})
            # seats held by these bookings
            from sqlalchemy import update

            from ais.flights.models import Cabin

            await session.execute(update(Cabin).where(Cabin.id == uuid.UUID(flight.cabin_id))
                                  .values(seats_available=Cabin.seats_available - count))
            await session.commit()
    finally:
        await runtime.close()
    return rows


def stripe_events(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    events = []
    created = int(time.time())
    for row in rows:
        metadata = {"bookingId": row["booking_id"], "paymentId": row["payment_id"]}
        intent, charge = f"pi_{uuid.uuid4().hex[:24]}", f"ch_{uuid.uuid4().hex[:24]}"
        events.append({"id": f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": "checkout.session.completed",
                       "created": created, "livemode": False, "api_version": "2024-06-20",
                       "data": {"object": {"id": f"cs_test_{uuid.uuid4().hex}", "object": "checkout.session",
                                           "payment_status": "paid", "status": "complete", "payment_intent": intent,
                                           "amount_total": 45000, "currency": "sar", "metadata": metadata}}})
        events.append({"id": f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": "payment_intent.succeeded",
                       "created": created, "livemode": False, "api_version": "2024-06-20",
                       "data": {"object": {"id": intent, "object": "payment_intent", "status": "succeeded",
                                           "amount": 45000, "amount_received": 45000, "currency": "sar",
                                           "latest_charge": charge, "metadata": metadata}}})
    return events


async def storm(base_url: str, payloads: list[bytes], clients: int) -> tuple[list[float], dict[int, int], float]:
    import httpx

    from ais.payments.sandbox import sign_payload

    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for payload in payloads:
        queue.put_nowait(payload)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=1)) as http:
            while True:
                try:
                    payload = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                headers = {"Stripe-Signature": sign_payload(payload, WEBHOOK_SECRET, int(time.time())),
                           "Content-Type": "application/json"}
                started = time.perf_counter()
                response = await http.post("/webhooks/stripe", content=payload, headers=headers)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return sorted(latencies), statuses, time.perf_counter() - started


async def ledger_check(dsn: str, rows: list[dict[str, object]]) -> dict[str, int]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        charges = await connection.fetchval("SELECT count(*) FROM ledger_entries WHERE type = 'charge'")
        duplicates = await connection.fetchval(
            "SELECT count(*) FROM (SELECT type, provider_object_id FROM ledger_entries "
            "GROUP BY 1, 2 HAVING count(*) > 1) d")
        per_booking = await connection.fetchval(
            "SELECT count(*) FROM (SELECT booking_id FROM ledger_entries WHERE type = 'charge' "
            "GROUP BY 1 HAVING count(*) > 1) d")
        confirmed = await connection.fetchval("SELECT count(*) FROM bookings WHERE status = 'confirmed'")
        unprocessed = await connection.fetchval("SELECT count(*) FROM stripe_events WHERE NOT processed")
        history_dupes = await connection.fetchval(
            "SELECT count(*) FROM (SELECT booking_id, to_status FROM booking_status_history "
            "GROUP BY 1, 2 HAVING count(*) > 1) d")
    finally:
        await connection.close()
    return {"bookings": len(rows), "charges": charges, "duplicate_entries": duplicates,
            "bookings_charged_twice": per_booking, "missing_charges": len(rows) - charges, "confirmed": confirmed,
            "unprocessed_events": unprocessed, "duplicate_history_rows": history_dupes}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=1500, help="bookings (2 events each, each sent twice)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="ais-storm-"))
    async with scratch_database() as dsn:
        rows = await seed_pending_bookings(dsn, args.bookings)
        events = stripe_events(rows)
        payloads = [json.dumps(event).encode() for event in events]
        payloads = payloads + payloads  # 50% duplicates
        random.Random(7).shuffle(payloads)
        env = {key: value for key, value in __import__("os").environ.items()
               if not key.startswith(("AIS_", "DATABASE_", "REDIS_", "STRIPE_"))}
        env.update({"AIS_ENV": "development", "AIS_DATA_DIR": str(work_dir), "DATABASE_URL": dsn,
                    "LOG_LEVEL": "WARNING", "RUN_JOBS_IN_PROCESS": "false", "SANDBOX_WEBHOOK_DELIVERY": "off",
                    "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_SECRET_KEY": SECRET_KEY,
                    "DB_POOL_SIZE": "20", "DB_MAX_OVERFLOW": "10"})
        server = await start_server("ais", "ais.app:create_app", env, args.workers, work_dir)
        try:
            latencies, statuses, elapsed = await storm(server.base_url, payloads, args.clients)
            rss = rss_mb(server.process.pid) or 0.0
        finally:
            stop_server(server)
        check = await ledger_check(dsn, rows)
    rate = len(payloads) / elapsed
    ok = (check["duplicate_entries"] == 0 and check["missing_charges"] == 0 and check["bookings_charged_twice"] == 0
          and check["unprocessed_events"] == 0 and check["duplicate_history_rows"] == 0)
    print("\n== webhook storm ==")
    print(f"server            {server.name}, {args.workers} worker(s), PostgreSQL, {args.clients} clients")
    print(f"events sent       {len(payloads)} ({len(events)} distinct, 50% duplicates) in {elapsed:.1f} s")
    print(f"throughput        {rate:,.0f} events/s   (target >= {TARGET_EVENTS_PER_SECOND:,}: "
          f"{'PASS' if rate >= TARGET_EVENTS_PER_SECOND else 'BELOW'})")
    print(f"latency           p50 {percentile(latencies, 0.5) * 1000:.1f} ms   "
          f"p95 {percentile(latencies, 0.95) * 1000:.1f} ms   p99 {percentile(latencies, 0.99) * 1000:.1f} ms")
    print(f"responses         {dict(sorted(statuses.items()))}")
    print(f"server RSS        {rss:.0f} MB (supervisor process)")
    print("ledger check      " + ", ".join(f"{key}={value}" for key, value in check.items()))
    print(f"ledger            {'OK: 0 duplicates, 0 missing' if ok else 'ERRORS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
