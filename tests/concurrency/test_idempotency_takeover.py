"""At most one booking per Idempotency-Key even when a retry takes a key over from an attempt
that is not dead after all (SPEC §7, §10).

A key's claim lapses after the idempotency lock's lifetime, so that a client can retry after
its server was killed mid-request (tests/faults/test_api_killed.py). But an attempt whose lock
lapsed may still be running (a stalled process, a partition that heals): when it finishes, it
must not commit next to the retry that took its key over."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from ais.bookings.models import Booking
from ais.db.base import utcnow
from ais.flights.models import Cabin
from ais.idempotency.models import IdempotencyRecord, IdempotencyStatus
from tests.factories import booking_body, new_flight, new_user

pytestmark = pytest.mark.postgres_only


async def record_of(runtime, key: str) -> IdempotencyRecord | None:
    async with runtime.session_factory() as session:
        return await session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == key))


async def wait_for(condition, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_an_attempt_that_outlived_its_lock_does_not_book_beside_the_retry(client, runtime):
    flight = await new_flight(runtime, economy_seats=10)
    user = await new_user(client, runtime)
    key = str(uuid.uuid4())
    headers = {**user.headers, "Idempotency-Key": key}
    body = booking_body(flight)

    async with runtime.session_factory() as holder:
        # Another transaction holds the cabin row: both attempts will wait for it to take seats.
        await holder.execute(select(Cabin).where(Cabin.id == uuid.UUID(flight.economy_cabin_id)).with_for_update())
        first = asyncio.create_task(client.post("/api/v1/bookings", json=body, headers=headers))

        async def claimed() -> bool:
            record = await record_of(runtime, key)
            return record is not None and record.status == IdempotencyStatus.STARTED

        await wait_for(claimed)
        # As if the lock's lifetime had passed while the first attempt still waits.
        lapsed_at = utcnow() - timedelta(seconds=1)
        async with runtime.session_factory() as session:
            await session.execute(update(IdempotencyRecord).where(IdempotencyRecord.key == key)
                                  .values(locked_until=lapsed_at))
            await session.commit()
        retry = asyncio.create_task(client.post("/api/v1/bookings", json=body, headers=headers))

        async def taken_over() -> bool:
            record = await record_of(runtime, key)
            return record is not None and record.locked_until > utcnow()

        await wait_for(taken_over)
        await holder.rollback()  # both attempts now run to their end
    answers = await asyncio.gather(first, retry)

    async with runtime.session_factory() as session:
        bookings = await session.scalar(select(func.count()).select_from(Booking)
                                        .where(Booking.cabin_id == uuid.UUID(flight.economy_cabin_id)))
        cabin = await session.get(Cabin, uuid.UUID(flight.economy_cabin_id))
    assert bookings == 1, [(a.status_code, a.text) for a in answers]
    assert cabin is not None and cabin.seats_available == 9
    created = [a for a in answers if a.status_code == 201]
    assert created, [(a.status_code, a.text) for a in answers]
    stored = await record_of(runtime, key)
    assert stored is not None and stored.status == IdempotencyStatus.COMPLETED
    for answer in created:
        assert answer.content == stored.response_body  # no client holds a booking the key does not name
    for answer in answers:
        if answer.status_code != 201:
            assert answer.status_code == 409 and answer.json()["code"] == "IDEMPOTENCY_IN_PROGRESS", answer.text
