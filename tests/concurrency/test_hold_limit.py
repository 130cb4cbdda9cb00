"""MAX_HELD_SEATS holds under concurrency on PostgreSQL (SPEC §4): two parallel requests of one
user must not both pass the limit.

The first test shows the race is real: counting the user's held seats and then inserting, with
nothing serialising the user's requests, lets parallel bookings past the limit. The second
attacks the production path over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ais.bookings import repository
from ais.bookings.identifiers import new_reference
from ais.bookings.models import Booking
from ais.bookings.rules import HOLDING, BookingStatus
from ais.db.base import utcnow
from ais.flights.models import CabinClass
from tests.bookings.support import seats_left
from tests.concurrency.test_overbooking import assert_inventory_balances
from tests.factories import book, new_flight, new_user

pytestmark = pytest.mark.postgres_only
LIMIT = 9


async def test_the_race_exists_without_the_user_lock(client, runtime):
    """Check-then-insert with no lock on the user: six parallel 3-seat holds all see 0 held."""
    flight = await new_flight(runtime, economy_seats=30)
    user_id = uuid.UUID((await new_user(client, runtime)).id)
    passed = 0

    async def unguarded_booking() -> None:
        nonlocal passed
        async with runtime.session_factory() as session:
            now = utcnow()
            held = await repository.seats_held_by(session, user_id, HOLDING, now)
            await asyncio.sleep(0.02)  # the time a real request spends between the count and the insert
            if held + 3 > LIMIT:
                return
            session.add(Booking(
                reference=new_reference(), user_id=user_id, flight_id=uuid.UUID(flight.id),
                cabin_id=uuid.UUID(flight.economy_cabin_id), cabin_class=CabinClass.ECONOMY, seat_count=3,
                contact_email="race@example.com", total_minor=1, currency="SAR", status=BookingStatus.RESERVED,
                expires_at=now + timedelta(minutes=30), created_at=now, updated_at=now,
            ))
            await session.commit()
            passed += 1

    await asyncio.gather(*[unguarded_booking() for _ in range(6)])
    assert passed * 3 > LIMIT, "the unguarded path should pass the limit; if not, this suite cannot see the race"


async def test_parallel_bookings_of_one_user_never_hold_more_than_the_limit(spec_limits_client, runtime):
    http = spec_limits_client
    flight = await new_flight(runtime, economy_seats=40)
    user = await new_user(http, runtime)
    answers = await asyncio.gather(*[book(http, user, flight, count=3) for _ in range(8)])
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * 3 + [409] * 5, [answer.text for answer in answers]
    assert {answer.json()["code"] for answer in answers if answer.status_code == 409} == {"BOOKING_CONFLICT"}
    async with runtime.session_factory() as session:
        held = await session.scalar(select(func.sum(Booking.seat_count))
                                    .where(Booking.user_id == uuid.UUID(user.id), Booking.status.in_(HOLDING)))
    assert held == LIMIT
    assert await seats_left(runtime, flight.economy_cabin_id) == 40 - LIMIT
    await assert_inventory_balances(runtime, flight.economy_cabin_id)
