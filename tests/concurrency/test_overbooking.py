"""No oversold seat under concurrency (SPEC §4), proven on PostgreSQL.

The first test shows the race is real: a read-then-write seat decrement, run concurrently,
does oversell. The rest attack the production path over HTTP."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
from sqlalchemy import func, select, update

from ais.bookings.models import Booking
from ais.bookings.rules import HOLDING, SOLD
from ais.flights.models import Cabin
from tests.bookings.support import seats_left
from tests.factories import book, idempotency_key, new_flight, new_user

pytestmark = pytest.mark.postgres_only


async def test_the_race_exists_without_the_guard(runtime):
    """Read-modify-write, as a naive implementation would do it, sells more than 5 seats."""
    flight = await new_flight(runtime, economy_seats=5)
    cabin_id = uuid.UUID(flight.economy_cabin_id)
    sold = 0

    async def naive_booking() -> None:
        nonlocal sold
        async with runtime.session_factory() as session:
            available = await session.scalar(select(Cabin.seats_available).where(Cabin.id == cabin_id))
            await asyncio.sleep(0.01)  # the time a real request spends between the read and the write
            if available >= 1:
                await session.execute(update(Cabin).where(Cabin.id == cabin_id).values(seats_available=available - 1))
                await session.commit()
                sold += 1

    await asyncio.gather(*[naive_booking() for _ in range(20)])
    assert sold > 5, "the unguarded path should oversell; if not, this suite cannot see the race"


async def test_forty_concurrent_one_seat_bookings_on_five_seats(client, runtime):
    flight = await new_flight(runtime, economy_seats=5)
    users = [await new_user(client, runtime) for _ in range(8)]
    responses = await asyncio.gather(*[book(client, users[i % 8], flight) for i in range(40)])
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 5, statuses
    assert statuses.count(409) == 35
    assert all(r.json()["code"] == "SEATS_UNAVAILABLE" for r in responses if r.status_code == 409)
    assert not [s for s in statuses if s >= 500]
    assert await seats_left(runtime, flight.economy_cabin_id) == 0
    await assert_inventory_balances(runtime, flight.economy_cabin_id)


async def test_multi_passenger_bookings_never_exceed_capacity(client, runtime):
    flight = await new_flight(runtime, economy_seats=11)
    users = [await new_user(client, runtime) for _ in range(8)]
    rng = random.Random(7)
    sizes = [rng.choice((2, 3)) for _ in range(40)]
    responses = await asyncio.gather(*[book(client, users[i % 8], flight, count=n) for i, n in enumerate(sizes)])
    taken = sum(n for n, r in zip(sizes, responses, strict=True) if r.status_code == 201)
    assert taken <= 11
    assert taken >= 9  # only a remainder smaller than the smallest party may stay unsold
    assert all(r.status_code in (201, 409) for r in responses)
    assert await seats_left(runtime, flight.economy_cabin_id) == 11 - taken
    await assert_inventory_balances(runtime, flight.economy_cabin_id)


async def test_cancel_racing_expiry_gives_seats_back_once(client, runtime):
    from datetime import timedelta

    from ais.bookings.tasks import expire_stale_holds
    from ais.db.base import utcnow

    flight = await new_flight(runtime, economy_seats=30)
    user = await new_user(client, runtime)
    bookings = [(await book(client, user, flight)).json() for _ in range(10)]
    async with runtime.session_factory() as session:
        await session.execute(update(Booking).where(Booking.id.in_([uuid.UUID(b["id"]) for b in bookings]))
                              .values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    cancels = [client.post(f"/api/v1/bookings/{b['id']}/cancel", headers={**user.headers, **idempotency_key()})
               for b in bookings]
    results = await asyncio.gather(expire_stale_holds(runtime), *cancels)
    assert all(r.status_code in (200, 409) for r in results[1:])
    assert await seats_left(runtime, flight.economy_cabin_id) == 30
    await assert_inventory_balances(runtime, flight.economy_cabin_id)


async def test_concurrent_cancels_of_one_booking_release_once(client, runtime):
    flight = await new_flight(runtime, economy_seats=4)
    user = await new_user(client, runtime)
    booking = (await book(client, user, flight, count=3)).json()
    results = await asyncio.gather(*[
        client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers={**user.headers, **idempotency_key()})
        for _ in range(8)
    ])
    assert sorted(r.status_code for r in results).count(200) == 1
    assert await seats_left(runtime, flight.economy_cabin_id) == 4


async def assert_inventory_balances(runtime, cabin_id: str) -> None:
    """seats available + seats held + seats sold = capacity."""
    async with runtime.session_factory() as session:
        cabin = await session.get(Cabin, uuid.UUID(cabin_id), populate_existing=True)
        held = await session.scalar(select(func.coalesce(func.sum(Booking.seat_count), 0))
                                    .where(Booking.cabin_id == cabin.id, Booking.status.in_(HOLDING)))
        sold = await session.scalar(select(func.coalesce(func.sum(Booking.seat_count), 0))
                                    .where(Booking.cabin_id == cabin.id, Booking.status.in_(SOLD)))
        assert cabin.seats_available + held + sold == cabin.capacity
        assert 0 <= cabin.seats_available <= cabin.capacity


