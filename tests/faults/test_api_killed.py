"""An API process SIGKILLed during a burst of bookings (SPEC §10, "a worker or API process killed
at any moment: nothing lost, nothing applied twice").

Many passengers book seats on one cabin at once, each request with its Idempotency-Key; the
`ais serve` process is killed with SIGKILL while requests are in flight, started again, and
every request whose answer never arrived is sent again with the same key and body, as an app
does. Afterwards: seats taken + seats left = capacity, every 201 that was answered exists,
each key made at most one booking, and no booking is half-written. A booking claims its key in
its own transaction, so a killed request leaves no claim behind: its retry simply runs."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from ais.bookings.models import Booking, BookingStatusChange, Passenger
from ais.bookings.rules import HOLDING, SOLD
from ais.config import Settings
from ais.flights.models import Cabin
from ais.idempotency.models import IdempotencyRecord, IdempotencyStatus
from ais.runtime import Runtime
from ais.wiring import create_runtime
from tests.factories import booking_body, idempotency_key, new_user
from tests.faults.support import assert_no_crash_output, flight_in
from tests.ops.contract import assert_error

pytestmark = [pytest.mark.postgres_only, pytest.mark.faults]

CAPACITY = 100  # about 80 seats asked for: some are left for the control at the end
REQUESTS = 60
PASSENGERS = 8
KILL_AFTER_ANSWERS = 10


@pytest.fixture
async def database(private_postgres) -> Any:
    url = private_postgres.create_database()
    runtime = create_runtime(Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                                      db_pool_size=2, db_max_overflow=0))
    yield url, runtime
    await runtime.close()


async def test_api_killed_mid_burst_loses_nothing_and_applies_nothing_twice(database, start_live_server):
    url, runtime = database
    server = start_live_server(database_url=url, db_pool_size=4, db_max_overflow=4)
    flight = await flight_in(url, economy_seats=CAPACITY)
    rng = random.Random(9)
    limits = httpx.Limits(max_connections=REQUESTS + 10, max_keepalive_connections=REQUESTS + 10)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http:
        users = await asyncio.gather(*[new_user(http) for _ in range(PASSENGERS)])
        requests = [
            (users[i % PASSENGERS], str(uuid.uuid4()), booking_body(flight, count=rng.choice((1, 1, 2))))
            for i in range(REQUESTS)
        ]
        answers: dict[int, httpx.Response] = {}
        writing_when_killed: list[int] = []

        async def send(index: int) -> None:
            user, key, body = requests[index]
            try:
                response = await http.post("/api/v1/bookings", json=body,
                                           headers={**user.headers, "Idempotency-Key": key})
            except httpx.TransportError:
                return  # the answer never arrived
            answers[index] = response
            if len(answers) == KILL_AFTER_ANSWERS:
                writing_when_killed.append(await transactions_that_wrote(runtime))
                server.kill()  # SIGKILL, while the rest are queued, mid-transaction or mid-answer

        await asyncio.gather(*[send(index) for index in range(REQUESTS)])
        unanswered = [index for index in range(REQUESTS) if index not in answers]
        assert len(answers) >= KILL_AFTER_ANSWERS and unanswered, "the kill must cut the burst in the middle"
        assert {r.status_code for r in answers.values()} <= {201, 409}, [r.text for r in answers.values()]
        # The kill met requests mid-way: transactions that had written (their key's claim at
        # least) and not committed. They rolled back with their connections, claims included.
        assert writing_when_killed[0] > 0, "the kill must catch requests in the middle of their work"
        assert await claimed_keys(runtime) == 0

        server.start()
        retried = await retry_until_settled(http, requests, unanswered)

        everything = {**answers, **retried}
        created = {index: r.json() for index, r in everything.items() if r.status_code == 201}
        for response in everything.values():
            if response.status_code != 201:
                assert_error(response, 409, "SEATS_UNAVAILABLE")
        await assert_seats_balance(runtime, flight.economy_cabin_id)
        await assert_one_booking_per_key(runtime, flight.economy_cabin_id, requests, created)
        await assert_nothing_half_written(runtime, flight.economy_cabin_id)
        assert_no_crash_output(server.output())

        # Control: the same request again under a new key (an app that retries without its key)
        # books twice, and the check sees it; a check that could never fail would prove nothing.
        user, _, body = requests[unanswered[0]]
        again = await http.post("/api/v1/bookings", json=body, headers={**user.headers, **idempotency_key()})
        assert again.status_code == 201, again.text
        with pytest.raises(AssertionError, match="no key's stored answer"):
            await assert_one_booking_per_key(runtime, flight.economy_cabin_id, requests, created)


async def retry_until_settled(http: httpx.AsyncClient, requests: list[Any],
                              unanswered: list[int]) -> dict[int, httpx.Response]:
    """Send each unanswered request again, same key and body, as an app does: the killed attempt
    left nothing behind (no booking, no claim), so each retry runs and gets a final answer."""
    responses = await asyncio.gather(*[
        http.post("/api/v1/bookings", json=requests[index][2],
                  headers={**requests[index][0].headers, "Idempotency-Key": requests[index][1]})
        for index in unanswered
    ])
    return dict(zip(unanswered, responses, strict=True))


async def transactions_that_wrote(runtime: Runtime) -> int:
    """Open transactions of other sessions on this database that have written something."""
    async with runtime.session_factory() as session:
        return int(await session.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()")) or 0)


async def claimed_keys(runtime: Runtime) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(IdempotencyRecord)
                                        .where(IdempotencyRecord.status == IdempotencyStatus.STARTED)) or 0)


async def assert_seats_balance(runtime: Runtime, cabin_id: str) -> None:
    async with runtime.session_factory() as session:
        cabin = await session.get(Cabin, uuid.UUID(cabin_id))
        assert cabin is not None
        taken = await session.scalar(select(func.coalesce(func.sum(Booking.seat_count), 0))
                                     .where(Booking.cabin_id == cabin.id, Booking.status.in_(HOLDING | SOLD)))
        assert cabin.seats_available + taken == cabin.capacity == CAPACITY
        assert cabin.seats_available >= 0


async def assert_one_booking_per_key(runtime: Runtime, cabin_id: str, requests: list[Any],
                                     created: dict[int, dict[str, Any]]) -> None:
    """Every booking on the cabin is the stored answer of exactly one key, and every 201 a client
    saw is one of them: a booking made twice for one key would be a booking no record names."""
    keys = {key for _, key, _ in requests}
    async with runtime.session_factory() as session:
        bookings = {str(row.id): row for row in await session.scalars(
            select(Booking).where(Booking.cabin_id == uuid.UUID(cabin_id)))}
        records = list(await session.scalars(
            select(IdempotencyRecord).where(IdempotencyRecord.scope == "bookings.create",
                                            IdempotencyRecord.key.in_(keys))))
    stored = {record.key: json.loads(record.response_body or b"{}")["id"]
              for record in records if record.status == IdempotencyStatus.COMPLETED}
    assert len(set(stored.values())) == len(stored), "two keys answered with one booking"
    assert set(stored.values()) == set(bookings), "a booking that no key's stored answer names"
    for index, booking in created.items():
        assert booking["id"] in bookings, f"an answered 201 whose booking does not exist: {booking}"
        assert stored[requests[index][1]] == booking["id"], "the key's stored answer is another booking"
        assert bookings[booking["id"]].seat_count == len(requests[index][2]["passengers"])


async def assert_nothing_half_written(runtime: Runtime, cabin_id: str) -> None:
    async with runtime.session_factory() as session:
        rows = (await session.execute(
            select(Booking.id, Booking.seat_count,
                   select(func.count()).where(Passenger.booking_id == Booking.id).scalar_subquery(),
                   select(func.count()).where(BookingStatusChange.booking_id == Booking.id).scalar_subquery())
            .where(Booking.cabin_id == uuid.UUID(cabin_id))
        )).all()
    assert rows
    for booking_id, seats, passengers, history in rows:
        assert passengers == seats, f"booking {booking_id}: {passengers} passengers for {seats} seats"
        assert history >= 1, f"booking {booking_id} has no status history"
