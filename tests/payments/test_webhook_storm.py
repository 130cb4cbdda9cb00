"""A storm of deliveries: the same events of paid bookings, many times over, at once, in any
order. One charge per booking, each transition once, every inbox row processed once."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.factories import book, new_flight
from tests.fixtures.payment_flow import booking_events, complete_checkout, deliver, open_checkout
from tests.payments.support import (
    admin_user,
    cancel,
    entries,
    get_booking,
    ledger_of,
    passenger_user,
    payment_intent_of,
    refunds_at_provider,
    seats_left,
    session_id_of,
    stored_event,
    transitions,
)

if TYPE_CHECKING:
    from tests.factories import TestUser

PAID_PATH = [("initiated", "reserved"), ("reserved", "pending"), ("pending", "paid"), ("paid", "confirmed")]


async def paid_not_delivered(http: httpx.AsyncClient, sdk: Any, runtime: Any, flight: Any, *, count: int = 1
                             ) -> tuple[TestUser, dict[str, Any], list[dict[str, Any]]]:
    user = await passenger_user(http)
    booking = (await book(http, user, flight, count=count)).json()
    await complete_checkout(http, (await open_checkout(http, user, booking["id"]))["checkoutUrl"])
    events = await booking_events(sdk, booking["id"])
    assert {e["type"] for e in events} >= {"checkout.session.completed", "payment_intent.succeeded"}
    return user, booking, events


async def storm(http: httpx.AsyncClient, live: Any, deliveries: list[dict[str, Any]]) -> None:
    """All deliveries at once. Under load a delivery may wait on another delivery of the same
    event longer than the database lock timeout: it is then answered with a retryable 5xx (the
    event stays stored, unprocessed), and Stripe delivers it again — as done here."""
    answers = await asyncio.gather(*(deliver(http, live, event) for event in deliveries))
    for event, answer in zip(deliveries, answers, strict=True):
        if answer.status_code != 200:
            assert answer.status_code in (500, 503) and answer.json()["retryable"] is True, answer.text
            assert (await deliver(http, live, event)).status_code == 200


async def assert_paid_once(http: httpx.AsyncClient, runtime: Any, admin: TestUser, user: TestUser,
                           booking: dict[str, Any], events: list[dict[str, Any]], *, concurrent: bool = False
                           ) -> None:
    after = await get_booking(http, user, booking["id"])
    assert after["status"] == "confirmed"
    assert transitions(after) == PAID_PATH  # each transition once
    assert all(p["ticketNumber"] for p in after["passengers"])
    ledger = await ledger_of(http, admin, booking["id"])
    assert entries(ledger) == [("charge", booking["totalAmount"])]
    assert ledger["totals"]["net"] == booking["totalAmount"]
    for event in events:
        stored = await stored_event(runtime, event["id"])
        assert stored is not None and stored.processed, event["type"]
        assert stored.last_error is None, event["type"]
        assert stored.attempts == 1 or (concurrent and stored.attempts > 1), (event["type"], stored.attempts)


@pytest.mark.postgres_only
async def test_same_events_five_times_at_once(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    flight = await new_flight(runtime, economy_seats=10)
    user, booking, events = await paid_not_delivered(http, sdk, runtime, flight, count=2)
    deliveries = [event for event in events for _ in range(5)]
    random.Random(7).shuffle(deliveries)
    await storm(http, live, deliveries)
    await assert_paid_once(http, runtime, admin, user, booking, events, concurrent=True)
    assert await seats_left(runtime, flight.economy_cabin_id) == 8


async def test_reverse_order_then_again_in_order(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    flight = await new_flight(runtime)
    user, booking, events = await paid_not_delivered(http, sdk, runtime, flight)
    for event in [*reversed(events), *events, *reversed(events)]:
        assert (await deliver(http, live, event)).status_code == 200
    await assert_paid_once(http, runtime, admin, user, booking, events)


async def test_only_one_of_the_events_is_enough_and_the_rest_change_nothing(http, live, sdk, runtime):
    """Whichever event describing the capture arrives first confirms the booking; the others
    describe the same money and add nothing."""
    admin = await admin_user(http, runtime)
    flight = await new_flight(runtime)
    for first in ("payment_intent.succeeded", "checkout.session.completed"):
        user, booking, events = await paid_not_delivered(http, sdk, runtime, flight)
        [lead] = [e for e in events if e["type"] == first]
        assert (await deliver(http, live, lead)).status_code == 200
        assert (await get_booking(http, user, booking["id"]))["status"] == "confirmed"
        for event in events:
            assert (await deliver(http, live, event)).status_code == 200
        await assert_paid_once(http, runtime, admin, user, booking, events, concurrent=True)


@pytest.mark.postgres_only
async def test_several_bookings_interleaved_at_once(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    flight = await new_flight(runtime, economy_seats=12)
    paid = [await paid_not_delivered(http, sdk, runtime, flight, count=2) for _ in range(4)]
    deliveries = [event for _, _, events in paid for event in events for _ in range(3)]
    random.Random(11).shuffle(deliveries)
    await storm(http, live, deliveries)
    for user, booking, events in paid:
        await assert_paid_once(http, runtime, admin, user, booking, events, concurrent=True)
    assert await seats_left(runtime, flight.economy_cabin_id) == 12 - 8


@pytest.mark.postgres_only
async def test_storm_through_separate_connections(live, sdk, runtime):
    """Each delivery on its own connection (no shared client pool), like Stripe's many senders."""
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        admin = await admin_user(http, runtime)
        flight = await new_flight(runtime)
        user, booking, events = await paid_not_delivered(http, sdk, runtime, flight)

    async def one(event: dict[str, Any]) -> None:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as own:
            await storm(own, live, [event])

    await asyncio.gather(*(one(event) for event in events for _ in range(4)))
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        await assert_paid_once(http, runtime, admin, user, booking, events, concurrent=True)


@pytest.mark.postgres_only
async def test_cancel_racing_the_payment_events(http, live, sdk, runtime):
    """The passenger cancels while the payment's events arrive. Whoever wins, the money goes
    back exactly once, the seats come back exactly once, and the ledger nets to zero."""
    admin = await admin_user(http, runtime)
    for attempt in range(3):
        flight = await new_flight(runtime, economy_seats=2)
        user, booking, events = await paid_not_delivered(http, sdk, runtime, flight)
        cancelled, _ = await asyncio.gather(cancel(http, user, booking["id"]), storm(http, live, events + events))
        assert cancelled.status_code == 200, cancelled.text
        for event in await booking_events(sdk, booking["id"]):
            assert (await deliver(http, live, event)).status_code == 200
        intent = await payment_intent_of(sdk, await session_id_of(sdk, booking["id"]))
        refunds = await refunds_at_provider(sdk, intent["id"])
        assert [r["amount"] for r in refunds] == [intent["amount"]], attempt
        after = await get_booking(http, user, booking["id"])
        assert after["status"] in ("cancelled", "refunded"), transitions(after)
        assert len(transitions(after)) == len(set(transitions(after)))
        ledger = await ledger_of(http, admin, booking["id"])
        assert ledger["totals"]["net"] == "0.00"
        assert await seats_left(runtime, flight.economy_cabin_id) == 2
