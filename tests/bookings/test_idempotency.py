"""Idempotency-Key on money-moving writes (SPEC §7), attacked with repeats, races and crashes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from ais.bookings.models import Booking
from ais.db.base import utcnow
from ais.idempotency.models import IdempotencyRecord, IdempotencyStatus
from tests.bookings.support import seats_left
from tests.factories import booking_body, idempotency_key, new_flight


async def bookings_on(runtime, flight_id: str) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(
            select(func.count()).select_from(Booking).where(Booking.flight_id == uuid.UUID(flight_id))))


async def test_repeat_replays_the_first_answer_byte_for_byte(client, runtime, passenger):
    flight = await new_flight(runtime)
    headers = {**passenger.headers, **idempotency_key()}
    first = await client.post("/api/v1/bookings", json=booking_body(flight), headers=headers)
    assert first.status_code == 201
    # same body, different key order and whitespace: still the same request
    body = booking_body(flight)
    reordered = dict(reversed(list(body.items())))
    second = await client.post("/api/v1/bookings", json=reordered, headers=headers)
    assert second.status_code == 201
    assert second.content == first.content
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await bookings_on(runtime, flight.id) == 1


async def test_same_key_different_body_is_refused(client, runtime, passenger):
    flight = await new_flight(runtime)
    headers = {**passenger.headers, **idempotency_key()}
    assert (await client.post("/api/v1/bookings", json=booking_body(flight), headers=headers)).status_code == 201
    mismatch = await client.post("/api/v1/bookings", json=booking_body(flight, count=2), headers=headers)
    assert mismatch.status_code == 422
    assert mismatch.json()["code"] == "IDEMPOTENCY_PAYLOAD_MISMATCH"
    assert await bookings_on(runtime, flight.id) == 1


async def test_missing_or_malformed_key(client, runtime, passenger):
    flight = await new_flight(runtime)
    missing = await client.post("/api/v1/bookings", json=booking_body(flight), headers=passenger.headers)
    assert missing.status_code == 400
    assert missing.json()["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    assert missing.json()["retryable"] is False
    bad = await client.post("/api/v1/bookings", json=booking_body(flight),
                            headers={**passenger.headers, "Idempotency-Key": "x" * 300})
    assert bad.status_code == 422
    assert await bookings_on(runtime, flight.id) == 0


async def test_keys_are_scoped_per_user(client, runtime, passenger, other_passenger):
    flight = await new_flight(runtime)
    key = idempotency_key()
    for user in (passenger, other_passenger):
        response = await client.post("/api/v1/bookings", json=booking_body(flight), headers={**user.headers, **key})
        assert response.status_code == 201
    assert await bookings_on(runtime, flight.id) == 2


async def test_ten_concurrent_requests_with_one_key_make_one_booking(client, runtime, passenger):
    flight = await new_flight(runtime, economy_seats=20)
    headers = {**passenger.headers, **idempotency_key()}
    responses = await asyncio.gather(*[
        client.post("/api/v1/bookings", json=booking_body(flight), headers=headers) for _ in range(10)
    ])
    statuses = sorted(r.status_code for r in responses)
    assert all(s in (201, 409) for s in statuses), statuses
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "IDEMPOTENCY_IN_PROGRESS"
            assert response.json()["retryable"] is True
    assert await bookings_on(runtime, flight.id) == 1
    assert await seats_left(runtime, flight.economy_cabin_id) == 19
    # once the first has finished, every repeat replays it
    after = await client.post("/api/v1/bookings", json=booking_body(flight), headers=headers)
    assert after.status_code == 201 and after.json()["id"] in created


async def test_a_failed_first_attempt_may_be_retried_with_the_same_key(client, runtime, passenger, other_passenger):
    flight = await new_flight(runtime, economy_seats=1)
    blocker_key = idempotency_key()
    blocker = await client.post("/api/v1/bookings", json=booking_body(flight),
                                headers={**other_passenger.headers, **blocker_key})
    assert blocker.status_code == 201
    headers = {**passenger.headers, **idempotency_key()}
    refused = await client.post("/api/v1/bookings", json=booking_body(flight), headers=headers)
    assert refused.json()["code"] == "SEATS_UNAVAILABLE"
    cancel = await client.post(f"/api/v1/bookings/{blocker.json()['id']}/cancel",
                               headers={**other_passenger.headers, **idempotency_key()})
    assert cancel.status_code == 200
    retried = await client.post("/api/v1/bookings", json=booking_body(flight), headers=headers)
    assert retried.status_code == 201, retried.text


async def test_a_request_still_running_answers_in_progress_and_a_crashed_one_is_taken_over(
        client, runtime, passenger):
    flight = await new_flight(runtime)
    key = str(uuid.uuid4())
    headers = {**passenger.headers, "Idempotency-Key": key}
    first = await client.post("/api/v1/bookings", json=booking_body(flight), headers=headers)
    assert first.status_code == 201
    # Pretend a second key's first attempt is mid-flight in another process.
    other_key = str(uuid.uuid4())
    from ais.bookings.schemas import BookingCreate
    from ais.idempotency.service import request_hash

    fingerprint = request_hash("POST", "/api/v1/bookings", BookingCreate.model_validate(booking_body(flight)))
    now = utcnow()
    async with runtime.session_factory() as session:
        session.add(IdempotencyRecord(
            user_id=uuid.UUID(passenger.id), scope="bookings.create", key=other_key, request_hash=fingerprint,
            status=IdempotencyStatus.STARTED, locked_until=now + timedelta(seconds=60),
            expires_at=now + timedelta(hours=24)))
        await session.commit()
    busy = await client.post("/api/v1/bookings", json=booking_body(flight),
                             headers={**passenger.headers, "Idempotency-Key": other_key})
    assert busy.status_code == 409
    assert busy.json() | {"correlationId": None} == busy.json() | {"correlationId": None}
    assert busy.json()["code"] == "IDEMPOTENCY_IN_PROGRESS" and busy.json()["retryable"] is True
    # That process died: once its lock lapses, the key is taken over and the request runs once.
    async with runtime.session_factory() as session:
        await session.execute(update(IdempotencyRecord).where(IdempotencyRecord.key == other_key)
                              .values(locked_until=now - timedelta(seconds=1)))
        await session.commit()
    resumed = await client.post("/api/v1/bookings", json=booking_body(flight),
                                headers={**passenger.headers, "Idempotency-Key": other_key})
    assert resumed.status_code == 201
    assert await bookings_on(runtime, flight.id) == 2
