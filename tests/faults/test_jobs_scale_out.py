"""Scale-out (SPEC §8, §10): two `ais serve --no-worker` and two `ais worker` on one PostgreSQL
and one Redis (private instances), the payment sandbox as its own process delivering its webhooks
to the API. 20 bookings paid through the sandbox's hosted checkout: exactly one confirmation
e-mail each (a real aiosmtpd server), each within 10 s of its payment (the p95 is printed); unpaid
holds expire exactly once, their seats given back once, whichever worker runs the expiry."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, text, update

from ais.bookings.models import Booking, BookingStatusChange
from ais.bookings.rules import BookingStatus
from ais.config import Settings
from ais.db.base import utcnow
from ais.flights.models import Cabin
from ais.wiring import create_runtime
from tests.factories import booking_body, idempotency_key, new_user
from tests.faults.jobs_support import Inbox, ais_processes, eventually, migrate, smtp_server
from tests.faults.support import flight_in
from tests.fixtures.services import free_port

pytestmark = [pytest.mark.postgres_only, pytest.mark.faults]

PAID = 20
UNPAID = 6
PAYING_AT_ONCE = 4  # passengers paying at the same moment
CAPACITY = 60


async def _ready(url: str, started, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            assert started.process.poll() is None, started.output()
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not answer:\n{started.output()}")


async def test_two_apis_and_two_workers_mail_each_payment_once_and_expire_each_hold_once(
        private_postgres, private_redis, tmp_path):
    database = private_postgres.create_database()
    sandbox_database = private_postgres.create_database()
    api_ports, sandbox_port = [free_port(), free_port()], free_port()
    apis = [f"http://127.0.0.1:{port}" for port in api_ports]
    inbox = Inbox()
    shared = {
        "database_url": database, "redis_url": private_redis.url(0), "ais_data_dir": tmp_path / "var",
        "jwt_secret": secrets.token_urlsafe(48), "refresh_token_pepper": secrets.token_urlsafe(48),
        "stripe_secret_key": "sk_test_" + secrets.token_hex(24),
        "stripe_webhook_secret": "whsec_" + secrets.token_hex(24),
        "stripe_api_base": f"http://127.0.0.1:{sandbox_port}/_sandbox/stripe",
        "sandbox_database_url": sandbox_database, "sandbox_webhook_url": f"{apis[0]}/webhooks/stripe",
        "sandbox_webhook_delivery": "on", "public_base_url": apis[0], "db_pool_size": 3, "db_max_overflow": 2,
    }
    migrate(tmp_path, **shared)
    flight = await flight_in(database, economy_seats=CAPACITY)
    with smtp_server(inbox) as smtp_port, ais_processes(tmp_path) as start:
        shared["smtp_url"] = f"smtp://127.0.0.1:{smtp_port}"
        sandbox = start("sandbox", "sandbox", "--host", "127.0.0.1", "--port", str(sandbox_port), **shared)
        await _ready(f"http://127.0.0.1:{sandbox_port}/health", sandbox)
        servers = [start(f"api-{i}", "serve", "--no-worker", "--no-demo", "--host", "127.0.0.1", "--port",
                         str(port), **{**shared, "public_base_url": apis[i]}) for i, port in enumerate(api_ports)]
        for url, server in zip(apis, servers, strict=True):
            await _ready(f"{url}/health/live", server)
        workers = [start(f"worker-{i}", "worker", "--concurrency", "2", **shared) for i in range(2)]
        runtime = create_runtime(Settings(_env_file=None, database_url=database, db_pool_size=2,  # type: ignore[call-arg]
                                          ais_data_dir=tmp_path / "var"))

        async def workers_beating() -> int:
            async with runtime.session_factory() as session:
                return int(await session.scalar(text("SELECT count(*) FROM procrastinate_workers")) or 0)

        deadline = time.monotonic() + 120  # both workers up (registered, beating) before anyone pays
        while await workers_beating() < 2:
            assert time.monotonic() < deadline and all(w.process.poll() is None for w in workers), \
                "\n".join(w.output() for w in workers)
            await asyncio.sleep(0.2)

        async def book_and_pay(index: int) -> tuple[str, str, float]:
            async with httpx.AsyncClient(base_url=apis[index % 2], timeout=30) as http:
                user = await new_user(http)
                address = f"paid-{index}-{uuid.uuid4().hex[:6]}@example.com"
                booked = await http.post("/api/v1/bookings", json=booking_body(flight, contact_email=address),
                                         headers={**user.headers, **idempotency_key()})
                assert booked.status_code == 201, booked.text
                paying = await http.post(f"/api/v1/bookings/{booked.json()['id']}/pay",
                                         headers={**user.headers, **idempotency_key()})
                assert paying.status_code == 200, paying.text
                checkout = await http.post(paying.json()["checkoutUrl"], content="outcome=succeeded",
                                           headers={"Content-Type": "application/x-www-form-urlencoded"})
                assert checkout.status_code == 303, checkout.text
                return booked.json()["id"], address, time.time()

        async def hold(index: int) -> str:
            async with httpx.AsyncClient(base_url=apis[index % 2], timeout=30) as http:
                user = await new_user(http)
                booked = await http.post("/api/v1/bookings", json=booking_body(flight),
                                         headers={**user.headers, **idempotency_key()})
                assert booked.status_code == 201, booked.text
                return str(booked.json()["id"])

        paying = asyncio.Semaphore(PAYING_AT_ONCE)

        async def passenger(index: int) -> tuple[str, str, float]:
            async with paying:
                return await book_and_pay(index)

        paid = await asyncio.gather(*[passenger(i) for i in range(PAID)])
        holds = await asyncio.gather(*[hold(i) for i in range(UNPAID)])

        def everyone_mailed() -> bool:
            return all(inbox.to(address) for _, address, _ in paid)

        def output() -> str:
            return "\n".join(each.output() for each in [*workers, *servers])

        assert await eventually(everyone_mailed, 30, step=0.1), output()
        await asyncio.sleep(3)  # a duplicate would arrive meanwhile
        latencies = []
        for _, address, paid_at in paid:
            received = inbox.to(address)
            assert len(received) == 1, (address, received)  # exactly one e-mail per booking
            latencies.append(received[0] - paid_at)
        async with runtime.session_factory() as session:  # when each webhook confirmed its booking
            rows = await session.execute(select(BookingStatusChange.booking_id, BookingStatusChange.at)
                                         .where(BookingStatusChange.to_status == BookingStatus.CONFIRMED))
            confirmed_at = {booking_id: at for booking_id, at in rows.all()}
        after_commit = [inbox.to(address)[0] - confirmed_at[uuid.UUID(booking_id)].timestamp()
                        for booking_id, address, _ in paid]

        def summary(values: list[float]) -> str:
            p95 = statistics.quantiles(values, n=20)[-1]
            median, worst = statistics.median(values), max(values)
            return f"p50 {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {worst * 1000:.0f} ms"

        print(f"confirmation e-mail after payment: {summary(latencies)}; after the confirming commit: "
              f"{summary(after_commit)} ({PAID} bookings, {PAYING_AT_ONCE} paying at once, 2 APIs, 2 workers)")
        assert max(latencies) < 10, latencies

        # The unpaid holds lapse: whichever worker's expiry runs, each moves once, seats back once.
        try:
            hold_ids = [uuid.UUID(booking_id) for booking_id in holds]
            async with runtime.session_factory() as session:
                await session.execute(update(Booking).where(Booking.id.in_(hold_ids))
                                      .values(expires_at=utcnow() - timedelta(minutes=1)))
                await session.commit()

            async def expired() -> int:
                async with runtime.session_factory() as session:
                    return int(await session.scalar(select(func.count()).select_from(Booking).where(
                        Booking.id.in_(hold_ids), Booking.status == BookingStatus.EXPIRED)) or 0)

            deadline = time.monotonic() + 90  # the expiry fires every minute
            count = await expired()
            while count < UNPAID and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                count = await expired()
            assert count == UNPAID, output()
            await asyncio.sleep(2)
            async with runtime.session_factory() as session:
                moves = await session.scalar(select(func.count()).select_from(BookingStatusChange).where(
                    BookingStatusChange.booking_id.in_(hold_ids),
                    BookingStatusChange.to_status == BookingStatus.EXPIRED))
                left = await session.scalar(select(Cabin.seats_available).where(
                    Cabin.id == uuid.UUID(flight.economy_cabin_id)))
                confirmed = await session.scalar(select(func.count()).select_from(Booking).where(
                    Booking.id.in_([uuid.UUID(b) for b, _, _ in paid]), Booking.status == BookingStatus.CONFIRMED))
            assert moves == UNPAID and confirmed == PAID
            assert left == CAPACITY - PAID  # the holds' seats came back exactly once
        finally:
            await runtime.close()
        for each in [*workers, *servers]:
            assert each.process.poll() is None, each.output()
            assert "Traceback" not in each.output(), each.output()
