"""Holds cannot be hoarded (SPEC §4): at most MAX_HELD_SEATS seats held per user across unpaid
bookings, and booking creation rate limited per user. Run against an app with the SPEC's
defaults (the shared test settings raise both limits)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

from ais.bookings.models import Booking
from ais.config import Settings
from ais.db.base import utcnow
from tests.bookings.support import seats_left
from tests.factories import book, booking_body, idempotency_key, new_flight, new_user
from tests.fixtures.app import SPEC_LIMITS

CONTRACT_KEYS = {"code", "message", "correlationId", "retryable", "details"}


def test_the_spec_defaults():
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (defaults.max_held_seats, defaults.booking_rate_per_minute) == (9, 30)
    assert SPEC_LIMITS == {"max_held_seats": 9, "booking_rate_per_minute": 30}


async def test_one_user_holds_at_most_nine_seats_across_unpaid_bookings(spec_limits_client, runtime):
    http = spec_limits_client
    flight = await new_flight(runtime, economy_seats=24)
    other_flight = await new_flight(runtime, economy_seats=24)
    user, neighbour = await new_user(http, runtime), await new_user(http, runtime)
    assert (await book(http, user, flight, count=4)).status_code == 201
    assert (await book(http, user, other_flight, count=4, infants=2)).status_code == 201  # lap infants: no seat

    refused = await book(http, user, flight, count=2)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert set(body) == CONTRACT_KEYS and body["code"] == "BOOKING_CONFLICT" and body["retryable"] is False
    assert "9" in body["message"]
    assert body["details"] == {"maxHeldSeats": 9, "heldSeats": 8, "requestedSeats": 2}
    assert await seats_left(runtime, flight.economy_cabin_id) == 20  # the refusal took nothing

    last = await book(http, user, flight, count=1)
    assert last.status_code == 201, last.text
    assert (await book(http, user, flight, count=1)).json()["code"] == "BOOKING_CONFLICT"
    assert (await book(http, neighbour, flight, count=9)).status_code == 201  # the limit is per user

    # Cancelling a hold frees its seats for the user's next booking.
    cancelled = await http.post(f"/api/v1/bookings/{last.json()['id']}/cancel",
                                headers={**user.headers, **idempotency_key()})
    assert cancelled.status_code == 200
    assert (await book(http, user, flight, count=1)).status_code == 201


async def test_paid_and_lapsed_holds_no_longer_count(spec_limits_client, runtime, pay_and_confirm):
    http = spec_limits_client
    flight = await new_flight(runtime, economy_seats=30)
    user = await new_user(http, runtime)
    paid = (await book(http, user, flight, count=4)).json()
    lapsing = (await book(http, user, flight, count=5)).json()
    assert (await book(http, user, flight, count=1)).status_code == 409

    await pay_and_confirm(user, paid["id"])  # a sold seat is not a hold
    assert (await book(http, user, flight, count=4)).status_code == 201
    assert (await book(http, user, flight, count=1)).status_code == 409

    async with runtime.session_factory() as session:  # its hold lapsed; the sweep has not run yet
        booking = await session.get(Booking, uuid.UUID(lapsing["id"]))
        booking.expires_at = utcnow() - timedelta(seconds=1)
        await session.commit()
    assert (await book(http, user, flight, count=5)).status_code == 201


async def test_booking_creation_is_rate_limited_per_user(spec_limits_client, runtime):
    http = spec_limits_client
    user, other = await new_user(http, runtime), await new_user(http, runtime)
    if time.time() % 60 > 45:  # fixed one-minute windows: start the burst at the top of one
        await asyncio.sleep(60.5 - time.time() % 60)
    nowhere = booking_body(str(uuid.uuid4()))  # cheap requests: every attempt counts, found or not
    answers = [await http.post("/api/v1/bookings", json=nowhere, headers={**user.headers, **idempotency_key()})
               for _ in range(30)]
    assert {answer.status_code for answer in answers} == {404}

    limited = await http.post("/api/v1/bookings", json=nowhere, headers={**user.headers, **idempotency_key()})
    assert limited.status_code == 429, limited.text
    body = limited.json()
    assert set(body) == CONTRACT_KEYS and body["code"] == "RATE_LIMITED" and body["retryable"] is True
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    flight = await new_flight(runtime)
    assert (await book(http, user, flight)).status_code == 429  # a real booking waits too
    assert (await book(http, other, flight)).status_code == 201  # per user
