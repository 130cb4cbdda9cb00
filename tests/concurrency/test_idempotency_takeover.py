"""One Idempotency-Key, one effect, while the first attempt is still running (SPEC §7, §10).

A booking claims its key in its own transaction: a repeat that arrives while the first attempt
waits (here on the hot cabin row) waits on the key too, then replays the first answer.

Paying calls the provider, so its claim commits first and lapses after the idempotency lock's
lifetime, so that a client can retry after its server was killed mid-request
(tests/faults/test_api_killed.py). But an attempt whose lock lapsed may still be running (a
stalled process, a partition that heals): when it finishes, it must not answer beside the retry
that took its key over, nor open a second checkout."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from ais.bookings.models import Booking
from ais.db.base import utcnow
from ais.flights.models import Cabin
from ais.idempotency.models import IdempotencyRecord, IdempotencyStatus
from ais.payments.models import Payment
from tests.factories import book, booking_body, new_flight, new_user
from tests.payments.support import passenger_user

pytestmark = pytest.mark.postgres_only


async def record_of(runtime, key: str) -> IdempotencyRecord | None:
    async with runtime.session_factory() as session:
        return await session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == key))


async def wait_for(condition, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def sessions_waiting_on_a_lock(runtime, count: int):  # type: ignore[no-untyped-def]
    async def waiting() -> bool:
        async with runtime.session_factory() as session:
            waiting = await session.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"))
        return int(waiting or 0) >= count

    return waiting


async def test_a_repeat_while_the_first_booking_attempt_waits_replays_its_answer(client, runtime):
    flight = await new_flight(runtime, economy_seats=10)
    user = await new_user(client, runtime)
    key = str(uuid.uuid4())
    headers = {**user.headers, "Idempotency-Key": key}
    body = booking_body(flight)

    async with runtime.session_factory() as holder:
        # Another transaction holds the cabin row: the first attempt waits for it to take seats.
        await holder.execute(select(Cabin).where(Cabin.id == uuid.UUID(flight.economy_cabin_id)).with_for_update())
        first = asyncio.create_task(client.post("/api/v1/bookings", json=body, headers=headers))
        await wait_for(sessions_waiting_on_a_lock(runtime, 1))
        assert await record_of(runtime, key) is None  # the claim is not visible before its commit
        repeat = asyncio.create_task(client.post("/api/v1/bookings", json=body, headers=headers))
        await wait_for(sessions_waiting_on_a_lock(runtime, 2))  # the repeat waits on the key
        await holder.rollback()
    answers = await asyncio.gather(first, repeat)

    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[1].headers.get("Idempotent-Replayed") == "true"
    assert answers[0].content == answers[1].content
    async with runtime.session_factory() as session:
        bookings = await session.scalar(select(func.count()).select_from(Booking)
                                        .where(Booking.cabin_id == uuid.UUID(flight.economy_cabin_id)))
        cabin = await session.get(Cabin, uuid.UUID(flight.economy_cabin_id))
    assert bookings == 1
    assert cabin is not None and cabin.seats_available == 9
    stored = await record_of(runtime, key)
    assert stored is not None and stored.status == IdempotencyStatus.COMPLETED
    assert stored.response_body == answers[0].content


async def test_a_pay_attempt_that_outlived_its_lock_does_not_answer_beside_the_retry(http, live, runtime):
    user = await passenger_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    booking_id = uuid.UUID(booking["id"])
    key = str(uuid.uuid4())
    headers = {**user.headers, "Idempotency-Key": key}
    pay_path = f"/api/v1/bookings/{booking['id']}/pay"

    async with runtime.session_factory() as holder:
        # Another transaction holds the booking row: the attempt claims its key, then stalls.
        await holder.execute(select(Booking).where(Booking.id == booking_id).with_for_update())
        first = asyncio.create_task(http.post(pay_path, headers=headers))

        async def claimed() -> bool:
            record = await record_of(runtime, key)
            return record is not None and record.status == IdempotencyStatus.STARTED

        await wait_for(claimed)
        # As if the lock's lifetime had passed while the first attempt still waits.
        async with runtime.session_factory() as session:
            await session.execute(update(IdempotencyRecord).where(IdempotencyRecord.key == key)
                                  .values(locked_until=utcnow() - timedelta(seconds=1)))
            await session.commit()
        retry = asyncio.create_task(http.post(pay_path, headers=headers))

        async def taken_over() -> bool:
            record = await record_of(runtime, key)
            return record is not None and record.locked_until > utcnow()

        await wait_for(taken_over)
        await holder.rollback()  # both attempts now run to their end
    answers = await asyncio.gather(first, retry)

    stored = await record_of(runtime, key)
    assert stored is not None and stored.status == IdempotencyStatus.COMPLETED, [(a.status_code, a.text)
                                                                                 for a in answers]
    paid = [a for a in answers if a.status_code == 200]
    assert paid, [(a.status_code, a.text) for a in answers]
    for answer in paid:
        assert answer.content == stored.response_body  # no client holds a checkout the key does not name
    for answer in answers:
        if answer.status_code != 200:
            assert answer.status_code == 409 and answer.json()["code"] == "IDEMPOTENCY_IN_PROGRESS", answer.text
    async with runtime.session_factory() as session:
        attempts = await session.scalar(select(func.count()).select_from(Payment)
                                        .where(Payment.booking_id == booking_id))
    assert attempts == 1  # the retry asked the provider again for the same attempt, not a second one
