"""Chargebacks: a dispute takes the money out of the ledger; winning it brings it back; losing
it changes nothing more; duplicates and odd orders add nothing."""

from __future__ import annotations

import pytest

from tests.factories import book, new_flight
from tests.fixtures.payment_flow import booking_events, complete_checkout, deliver, open_checkout, paid_booking
from tests.payments.support import (
    admin_refund,
    admin_user,
    audit_actions,
    close_dispute,
    deliver_all,
    entries,
    get_booking,
    ledger_of,
    open_dispute,
    passenger_user,
    payment_intent_of,
    session_id_of,
)

DISPUTE_TYPES = ("charge.dispute.created", "charge.dispute.closed")


async def disputed_booking(http, live, sdk, runtime, *, fare: int = 61725):  # type: ignore[no-untyped-def]
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    booking = await paid_booking(http, live, sdk, runtime, user, await new_flight(runtime, economy_fare_minor=fare))
    intent = await payment_intent_of(sdk, await session_id_of(sdk, booking["id"]))
    dispute = await open_dispute(sdk, intent["latest_charge"])
    return admin, user, booking, intent, dispute


@pytest.mark.parametrize("outcome", ["won", "lost"])
async def test_dispute_opened_then_closed(http, live, sdk, runtime, outcome):
    admin, user, booking, intent, dispute = await disputed_booking(http, live, sdk, runtime)
    [created] = await booking_events(sdk, booking["id"], types=("charge.dispute.created",))
    assert created["data"]["object"]["id"] == dispute["id"]

    for _ in range(2):
        assert (await deliver(http, live, created)).status_code == 200
    ledger = await ledger_of(http, admin, booking["id"])
    assert entries(ledger) == [("charge", "617.25"), ("dispute", "617.25")]
    assert ledger["totals"]["disputed"] == "617.25" and ledger["totals"]["net"] == "0.00"
    [item] = [e for e in ledger["items"] if e["type"] == "dispute"]
    assert item["disputeId"] == dispute["id"] and item["chargeId"] == intent["latest_charge"]
    assert item["paymentIntentId"] == intent["id"]

    await close_dispute(sdk, dispute["id"], outcome)
    events = await booking_events(sdk, booking["id"], types=DISPUTE_TYPES)
    assert [e["type"] for e in events] == list(DISPUTE_TYPES)
    for _ in range(3):
        assert set(await deliver_all(http, live, events)) == {200}

    ledger = await ledger_of(http, admin, booking["id"])
    if outcome == "won":
        assert entries(ledger) == [("charge", "617.25"), ("dispute", "617.25"), ("dispute_reversal", "617.25")]
        assert ledger["totals"]["disputed"] == "0.00" and ledger["totals"]["net"] == "617.25"
    else:
        assert entries(ledger) == [("charge", "617.25"), ("dispute", "617.25")]
        assert ledger["totals"]["disputed"] == "617.25" and ledger["totals"]["net"] == "0.00"
    actions = await audit_actions(http, admin, booking["id"])
    assert actions.count("dispute.opened") == 1
    assert actions.count(f"dispute.{outcome}") == 1
    assert (await get_booking(http, user, booking["id"]))["status"] == "confirmed"


@pytest.mark.parametrize("outcome", ["won", "lost"])
async def test_closed_arrives_before_created(http, live, sdk, runtime, outcome):
    admin, _, booking, _, dispute = await disputed_booking(http, live, sdk, runtime, fare=10000)
    await close_dispute(sdk, dispute["id"], outcome)
    events = await booking_events(sdk, booking["id"], types=DISPUTE_TYPES)
    assert set(await deliver_all(http, live, list(reversed(events)))) == {200}
    ledger = await ledger_of(http, admin, booking["id"])
    expected = [("charge", "100.00"), ("dispute", "100.00")]
    if outcome == "won":
        expected.append(("dispute_reversal", "100.00"))
    assert entries(ledger) == expected
    assert ledger["totals"]["net"] == ("100.00" if outcome == "won" else "0.00")


async def test_dispute_after_a_partial_refund(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    booking = await paid_booking(http, live, sdk, runtime, user, await new_flight(runtime, economy_fare_minor=10000))
    assert (await admin_refund(http, admin, booking["id"], amount="30.00")).status_code == 201
    intent = await payment_intent_of(sdk, await session_id_of(sdk, booking["id"]))
    dispute = await open_dispute(sdk, intent["latest_charge"])
    await close_dispute(sdk, dispute["id"], "lost")
    events = await booking_events(sdk, booking["id"])
    assert set(await deliver_all(http, live, events)) == {200}
    charge = (await sdk.v1.charges.retrieve_async(intent["latest_charge"])).to_dict()
    ledger = await ledger_of(http, admin, booking["id"])
    provider_net = charge["amount_captured"] - charge["amount_refunded"] - dispute["amount"]
    assert ledger["totals"]["net"] == f"{provider_net / 100:.2f}"


async def test_dispute_that_arrives_before_the_payment_is_not_lost(http, live, sdk, runtime):
    """The dispute's events overtake the payment's (Stripe promises no order): the dispute must
    still reach the ledger, whichever event comes first."""
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    booking = (await book(http, user, await new_flight(runtime, economy_fare_minor=20000))).json()
    checkout = await open_checkout(http, user, booking["id"])
    await complete_checkout(http, checkout["checkoutUrl"])
    intent = await payment_intent_of(sdk, checkout["sessionId"])
    dispute = await open_dispute(sdk, intent["latest_charge"])
    events = await booking_events(sdk, booking["id"])
    disputes = [e for e in events if e["type"] in DISPUTE_TYPES]
    assert disputes and disputes[0]["data"]["object"]["id"] == dispute["id"]
    rest = [e for e in events if e["type"] not in DISPUTE_TYPES]

    assert set(await deliver_all(http, live, disputes + rest)) == {200}

    ledger = await ledger_of(http, admin, booking["id"])
    assert entries(ledger) == [("charge", "200.00"), ("dispute", "200.00")]
    assert ledger["totals"]["net"] == "0.00"
    assert (await get_booking(http, user, booking["id"]))["status"] == "confirmed"
