"""Any order, any duplicates (SPEC §5: "Events may arrive out of order or twice; the result must
be the same"). One booking's money story is played at the provider — paid, maybe refunded in
parts, maybe in full, maybe disputed and the dispute won or lost — and its events are delivered
to AIS shuffled and repeated. Afterwards the ledger's net for the booking equals what the
provider says it kept, and the booking ends where the story says it must.

Hypothesis is synchronous: each example runs its own event loop with fresh HTTP and SDK
clients against the live server (the async fixtures belong to another loop)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ais.wiring import create_runtime
from tests.factories import book, new_flight, new_user
from tests.fixtures.payment_flow import Live, booking_events, complete_checkout, deliver, open_checkout
from tests.payments.support import close_dispute, get_booking, ledger_of, open_dispute, payment_intent_of, seats_left

if TYPE_CHECKING:
    from tests.factories import TestUser

Event = dict[str, Any]
FARE = 40000  # 400.00 SAR, one passenger


@dataclass(frozen=True)
class Story:
    partials: tuple[int, ...]  # provider refunds, in SAR (whole units), before anything else
    refund_the_rest: bool
    dispute: str | None  # None | "open" | "won" | "lost" (only when money is left to dispute)


stories = st.builds(
    Story,
    partials=st.lists(st.integers(1, 120), max_size=2).map(tuple),
    refund_the_rest=st.booleans(),
    dispute=st.sampled_from([None, "open", "won", "lost"]),
).map(lambda s: Story(s.partials, s.refund_the_rest, None if s.refund_the_rest else s.dispute))


@dataclass
class Setup:
    passenger: TestUser
    admin: TestUser
    flight_id: str
    cabin_id: str


@pytest.fixture(scope="module")
def setup(live: Live) -> Iterator[Setup]:
    async def make() -> Setup:
        runtime = create_runtime(live.settings)
        try:
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
                flight = await new_flight(runtime, economy_fare_minor=FARE, economy_seats=60)
                return Setup(await new_user(http), await new_user(http, runtime, admin=True), flight.id,
                             flight.economy_cabin_id)
        finally:
            await runtime.close()

    yield asyncio.run(make())


async def seats(live: Live, cabin_id: str) -> int:
    runtime = create_runtime(live.settings)
    try:
        return await seats_left(runtime, cabin_id)
    finally:
        await runtime.close()


async def play(live: Live, setup: Setup, story: Story, arrange: Callable[[list[Event]], list[Event]]) -> None:
    sdk = live.stripe_client()
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        since = int(time.time()) - 1
        booking = (await book(http, setup.passenger, setup.flight_id)).json()
        seats_before = await seats(live, setup.cabin_id)
        checkout = await open_checkout(http, setup.passenger, booking["id"])
        await complete_checkout(http, checkout["checkoutUrl"])
        intent = await payment_intent_of(sdk, checkout["sessionId"])
        charge_id = intent["latest_charge"]
        for units in story.partials:
            await sdk.v1.refunds.create_async(params={"payment_intent": intent["id"], "amount": units * 100})
        if story.refund_the_rest:
            await sdk.v1.refunds.create_async(params={"payment_intent": intent["id"]})
        dispute = None
        if story.dispute:
            dispute = await open_dispute(sdk, charge_id)
            if story.dispute in ("won", "lost"):
                dispute = await close_dispute(sdk, dispute["id"], story.dispute)

        events = await booking_events(sdk, booking["id"], since=since)
        order = arrange(events)
        for event in order:
            response = await deliver(http, live, event)
            assert response.status_code == 200, (event["type"], response.text)

        charge = (await sdk.v1.charges.retrieve_async(charge_id)).to_dict(recursive=True)
        provider_net = charge["amount_captured"] - charge["amount_refunded"]
        if dispute is not None:
            dispute = (await sdk.v1.disputes.retrieve_async(dispute["id"])).to_dict(recursive=True)
            if dispute["status"] != "won":
                provider_net -= dispute["amount"]
        ledger = await ledger_of(http, setup.admin, booking["id"])
        assert ledger["totals"]["net"] == _sar(provider_net), ([e["type"] for e in order], ledger)
        assert ledger["totals"]["charged"] == _sar(charge["amount_captured"])
        assert ledger["totals"]["refunded"] == _sar(charge["amount_refunded"])

        fully_refunded = charge["amount_refunded"] == charge["amount_captured"]
        after = await get_booking(http, setup.passenger, booking["id"])
        assert after["status"] == ("refunded" if fully_refunded else "confirmed"), [e["type"] for e in order]
        assert await seats(live, setup.cabin_id) == seats_before + (1 if fully_refunded else 0)

        # And once more, everything in the provider's order: nothing changes.
        for event in events:
            assert (await deliver(http, live, event)).status_code == 200
        assert (await ledger_of(http, setup.admin, booking["id"]))["totals"] == ledger["totals"]
        assert (await get_booking(http, setup.passenger, booking["id"]))["status"] == after["status"]


def _sar(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


@settings(max_examples=10, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(story=stories, data=st.data())
def test_ledger_matches_provider_whatever_the_order(live, setup, story, data):
    def shuffled_with_repeats(events: list[Event]) -> list[Event]:
        extra = data.draw(st.lists(st.sampled_from(events), max_size=4), label="repeats")
        return data.draw(st.permutations(events + extra), label="delivery order")

    asyncio.run(play(live, setup, story, shuffled_with_repeats))


@pytest.mark.parametrize("story", [
    Story(partials=(), refund_the_rest=True, dispute=None),
    Story(partials=(50, 20), refund_the_rest=True, dispute=None),
    Story(partials=(50, 20), refund_the_rest=False, dispute="lost"),
    Story(partials=(10,), refund_the_rest=False, dispute="won"),
])
def test_everything_backwards(live, setup, story):
    """The provider's newest event first: refunds and disputes before the payment itself."""
    asyncio.run(play(live, setup, story, lambda events: [*reversed(events), *reversed(events)]))
