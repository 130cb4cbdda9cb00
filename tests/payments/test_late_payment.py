"""Money that arrives at awkward moments (SPEC §4): after the hold lapsed, after a decline, by a
slow bank debit, or twice for one booking. Never oversell, never keep money for nothing."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from ais.notifications.models import OutboxMessage
from tests.factories import book, new_flight, new_user
from tests.fixtures.payment_flow import booking_events, complete_checkout, deliver, open_checkout
from tests.payments.support import (
    admin_user,
    assert_error,
    audit_actions,
    cancel,
    deliver_all,
    entries,
    get_booking,
    lapse_hold,
    ledger_of,
    passenger_user,
    payment_intent_of,
    refunds_at_provider,
    seats_left,
    transitions,
)


async def outbox_kinds(runtime, booking_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            select(OutboxMessage.kind).where(OutboxMessage.booking_id == uuid.UUID(booking_id)))
        return sorted(rows.all())


async def deliver_everything(http, live, sdk, booking_id: str) -> None:  # type: ignore[no-untyped-def]
    codes = await deliver_all(http, live, await booking_events(sdk, booking_id))
    assert set(codes) == {200}, codes


async def test_late_payment_with_seats_still_free_is_confirmed(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_seats=5)
    booking = (await book(http, user, flight, count=2)).json()
    checkout = await open_checkout(http, user, booking["id"])
    await lapse_hold(runtime, booking["id"])
    assert (await get_booking(http, user, booking["id"]))["status"] == "expired"
    assert await seats_left(runtime, flight.economy_cabin_id) == 5

    await complete_checkout(http, checkout["checkoutUrl"])  # the page was still open
    await deliver_everything(http, live, sdk, booking["id"])
    await deliver_everything(http, live, sdk, booking["id"])

    confirmed = await get_booking(http, user, booking["id"])
    assert confirmed["status"] == "confirmed"
    assert transitions(confirmed)[-3:] == [("pending", "expired"), ("expired", "paid"), ("paid", "confirmed")]
    assert all(p["ticketNumber"] for p in confirmed["passengers"])
    assert await seats_left(runtime, flight.economy_cabin_id) == 3
    ledger = await ledger_of(http, admin, booking["id"])
    assert entries(ledger) == [("charge", booking["totalAmount"])]
    assert await refunds_at_provider(sdk, (await payment_intent_of(sdk, checkout["sessionId"]))["id"]) == []
    assert "booking.late_payment_confirmed" in await audit_actions(http, admin, booking["id"])


async def sold_out_late_payment(http, live, sdk, runtime):  # type: ignore[no-untyped-def]
    """A booking whose hold lapsed and whose seats were sold to someone else, then paid."""
    admin = await admin_user(http, runtime)
    # A fresh passenger: the shared ones may have had their 20 notices of the hour (SPEC §6), and
    # the tests of this scenario read the notice about the refund.
    late, other = await new_user(http), await passenger_user(http, 1)
    flight = await new_flight(runtime, economy_seats=2)
    booking = (await book(http, late, flight, count=2)).json()
    checkout = await open_checkout(http, late, booking["id"])
    await lapse_hold(runtime, booking["id"])
    taken = (await book(http, other, flight, count=2)).json()
    assert taken["status"] == "reserved" and await seats_left(runtime, flight.economy_cabin_id) == 0
    await complete_checkout(http, checkout["checkoutUrl"])
    intent = await payment_intent_of(sdk, checkout["sessionId"])
    return admin, late, other, flight, booking, taken, intent


async def test_late_payment_for_seats_sold_meanwhile_is_refunded(http, live, sdk, runtime):
    admin, late, other, flight, booking, taken, intent = await sold_out_late_payment(http, live, sdk, runtime)

    await deliver_everything(http, live, sdk, booking["id"])

    assert (await get_booking(http, late, booking["id"]))["status"] == "expired"
    assert await seats_left(runtime, flight.economy_cabin_id) == 0  # no oversell
    assert (await get_booking(http, other, taken["id"]))["status"] == "reserved"
    refunds = await refunds_at_provider(sdk, intent["id"])
    assert [(r["amount"], r["status"]) for r in refunds] == [(intent["amount"], "succeeded")]
    await deliver_everything(http, live, sdk, booking["id"])  # now with charge.refunded
    ledger = await ledger_of(http, admin, booking["id"])
    assert entries(ledger) == sorted([("charge", booking["totalAmount"]), ("refund", booking["totalAmount"])])
    assert ledger["totals"]["net"] == "0.00"
    after = await get_booking(http, late, booking["id"])
    assert after["status"] == "expired" and transitions(after)[-1] == ("pending", "expired")
    assert len(await refunds_at_provider(sdk, intent["id"])) == 1
    assert "refund.automatic" in await audit_actions(http, admin, booking["id"])
    assert "late_payment_refunded" in await outbox_kinds(runtime, booking["id"])  # the passenger is told
    assert "booking_confirmed" not in await outbox_kinds(runtime, booking["id"])


async def test_refunded_late_payment_stays_refunded_when_seats_free_up(http, live, sdk, runtime):
    """The first capture event refunded the late payment (sold out). Seats then come free, and a
    second event about the same capture arrives: it must not take the seats and confirm a
    booking whose money is on its way back."""
    admin, late, other, flight, booking, taken, intent = await sold_out_late_payment(http, live, sdk, runtime)
    events = await booking_events(sdk, booking["id"])
    [first] = [e for e in events if e["type"] == "payment_intent.succeeded"]
    assert (await deliver(http, live, first)).status_code == 200
    assert len(await refunds_at_provider(sdk, intent["id"])) == 1
    assert (await cancel(http, other, taken["id"])).status_code == 200  # two seats free again
    assert await seats_left(runtime, flight.economy_cabin_id) == 2

    await deliver_everything(http, live, sdk, booking["id"])

    after = await get_booking(http, late, booking["id"])
    assert after["status"] == "expired", transitions(after)
    assert await seats_left(runtime, flight.economy_cabin_id) == 2
    ledger = await ledger_of(http, admin, booking["id"])
    assert entries(ledger) == sorted([("charge", booking["totalAmount"]), ("refund", booking["totalAmount"])])


async def test_declined_then_paid_on_the_same_page(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    checkout = await open_checkout(http, user, booking["id"])
    await complete_checkout(http, checkout["checkoutUrl"], "declined")
    await deliver_everything(http, live, sdk, booking["id"])
    failed = await get_booking(http, user, booking["id"])
    assert failed["status"] == "payment_failed"
    assert (await ledger_of(http, admin, booking["id"]))["items"] == []

    await complete_checkout(http, checkout["checkoutUrl"], "succeeded")
    await deliver_everything(http, live, sdk, booking["id"])

    confirmed = await get_booking(http, user, booking["id"])
    assert confirmed["status"] == "confirmed"
    assert transitions(confirmed) == [("initiated", "reserved"), ("reserved", "pending"),
                                      ("pending", "payment_failed"), ("payment_failed", "pending"),
                                      ("pending", "paid"), ("paid", "confirmed")]
    assert entries(await ledger_of(http, admin, booking["id"])) == [("charge", booking["totalAmount"])]


async def test_declined_then_a_new_checkout(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    first = await open_checkout(http, user, booking["id"])
    await complete_checkout(http, first["checkoutUrl"], "declined")
    await deliver_everything(http, live, sdk, booking["id"])
    second = await open_checkout(http, user, booking["id"])
    assert second["sessionId"] != first["sessionId"]
    await complete_checkout(http, second["checkoutUrl"])
    await deliver_everything(http, live, sdk, booking["id"])
    confirmed = await get_booking(http, user, booking["id"])
    assert confirmed["status"] == "confirmed"
    assert entries(await ledger_of(http, admin, booking["id"])) == [("charge", booking["totalAmount"])]


async def test_async_debit_succeeds(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    checkout = await open_checkout(http, user, booking["id"])
    await complete_checkout(http, checkout["checkoutUrl"], "async_succeeded")
    events = await booking_events(sdk, booking["id"])
    [completed] = [e for e in events if e["type"] == "checkout.session.completed"]
    assert completed["data"]["object"]["payment_status"] == "unpaid"
    assert (await deliver(http, live, completed)).status_code == 200
    assert (await get_booking(http, user, booking["id"]))["status"] == "pending"  # money not in yet
    assert (await ledger_of(http, admin, booking["id"]))["items"] == []
    for event in reversed(events):
        assert (await deliver(http, live, event)).status_code == 200
    confirmed = await get_booking(http, user, booking["id"])
    assert confirmed["status"] == "confirmed"
    assert transitions(confirmed)[-2:] == [("pending", "paid"), ("paid", "confirmed")]
    assert entries(await ledger_of(http, admin, booking["id"])) == [("charge", booking["totalAmount"])]


async def test_async_debit_fails_then_card_pays(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    checkout = await open_checkout(http, user, booking["id"])
    await complete_checkout(http, checkout["checkoutUrl"], "async_failed")
    await deliver_everything(http, live, sdk, booking["id"])
    await deliver_everything(http, live, sdk, booking["id"])
    failed = await get_booking(http, user, booking["id"])
    assert failed["status"] == "payment_failed"
    assert [t for t in transitions(failed) if t[1] == "payment_failed"] == [("pending", "payment_failed")]
    assert (await ledger_of(http, admin, booking["id"]))["items"] == []
    retry = await open_checkout(http, user, booking["id"])  # the session completed: a new one
    assert retry["sessionId"] != checkout["sessionId"]
    await complete_checkout(http, retry["checkoutUrl"])
    await deliver_everything(http, live, sdk, booking["id"])
    assert (await get_booking(http, user, booking["id"]))["status"] == "confirmed"
    assert entries(await ledger_of(http, admin, booking["id"])) == [("charge", booking["totalAmount"])]


async def two_sessions(http, live, sdk, runtime):  # type: ignore[no-untyped-def]
    """Two open checkouts for one booking: the first declined (it stays open, as Stripe's does),
    then a new one opened. The passenger may now pay both."""
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_seats=3)
    booking = (await book(http, user, flight)).json()
    first = await open_checkout(http, user, booking["id"])
    await complete_checkout(http, first["checkoutUrl"], "declined")
    await deliver_everything(http, live, sdk, booking["id"])
    second = await open_checkout(http, user, booking["id"])
    assert second["sessionId"] != first["sessionId"]
    return admin, user, flight, booking, first, second


async def test_double_payment_is_refunded_automatically(http, live, sdk, runtime):
    admin, user, flight, booking, first, second = await two_sessions(http, live, sdk, runtime)
    await complete_checkout(http, second["checkoutUrl"])
    await deliver_everything(http, live, sdk, booking["id"])
    assert (await get_booking(http, user, booking["id"]))["status"] == "confirmed"
    # The passenger goes back to the first tab and pays again.
    assert (await http.post(f"/api/v1/bookings/{booking['id']}/pay",
                            headers={**user.headers, "Idempotency-Key": str(uuid.uuid4())})).status_code == 409
    await complete_checkout(http, first["checkoutUrl"])
    await deliver_everything(http, live, sdk, booking["id"])
    await deliver_everything(http, live, sdk, booking["id"])

    first_intent = await payment_intent_of(sdk, first["sessionId"])
    second_intent = await payment_intent_of(sdk, second["sessionId"])
    assert [r["amount"] for r in await refunds_at_provider(sdk, first_intent["id"])] == [first_intent["amount"]]
    assert await refunds_at_provider(sdk, second_intent["id"]) == []
    confirmed = await get_booking(http, user, booking["id"])
    assert confirmed["status"] == "confirmed"
    assert [t for t in transitions(confirmed) if t[1] == "confirmed"] == [("paid", "confirmed")]
    ledger = await ledger_of(http, admin, booking["id"])
    total = booking["totalAmount"]
    assert entries(ledger) == sorted([("charge", total), ("charge", total), ("refund", total)])
    assert ledger["totals"]["net"] == total
    assert await seats_left(runtime, flight.economy_cabin_id) == 2
    assert "refund.automatic" in await audit_actions(http, admin, booking["id"])


async def test_cancel_after_a_double_payment_refunds_the_charge_that_was_kept(http, live, sdk, runtime):
    """The old tab is paid first (it confirms the booking), the new one second (refunded as a
    double charge). Cancelling must then refund the charge that was kept, whichever attempt
    is the latest."""
    admin, user, flight, booking, first, second = await two_sessions(http, live, sdk, runtime)
    await complete_checkout(http, first["checkoutUrl"])
    await deliver_everything(http, live, sdk, booking["id"])
    assert (await get_booking(http, user, booking["id"]))["status"] == "confirmed"
    await complete_checkout(http, second["checkoutUrl"])
    await deliver_everything(http, live, sdk, booking["id"])
    await deliver_everything(http, live, sdk, booking["id"])  # the double charge's refund lands
    first_intent = await payment_intent_of(sdk, first["sessionId"])
    second_intent = await payment_intent_of(sdk, second["sessionId"])
    assert len(await refunds_at_provider(sdk, second_intent["id"])) == 1

    response = await cancel(http, user, booking["id"])
    assert response.status_code == 200, response.text
    await deliver_everything(http, live, sdk, booking["id"])

    assert [r["amount"] for r in await refunds_at_provider(sdk, first_intent["id"])] == [first_intent["amount"]]
    assert len(await refunds_at_provider(sdk, second_intent["id"])) == 1
    ledger = await ledger_of(http, admin, booking["id"])
    assert ledger["totals"]["net"] == "0.00"
    assert (await get_booking(http, user, booking["id"]))["status"] == "refunded"
    assert await seats_left(runtime, flight.economy_cabin_id) == 3


async def test_admin_refund_after_a_double_payment(http, live, sdk, runtime):
    """Same double payment, its refund not yet confirmed by the provider: an admin refund takes
    what is left from the charge that was kept, and never more than that."""
    from tests.payments.support import admin_refund

    admin, user, _flight, booking, first, second = await two_sessions(http, live, sdk, runtime)
    await complete_checkout(http, first["checkoutUrl"])
    await deliver_everything(http, live, sdk, booking["id"])
    await complete_checkout(http, second["checkoutUrl"])
    await deliver_everything(http, live, sdk, booking["id"])  # the second capture: refunded automatically
    first_intent = await payment_intent_of(sdk, first["sessionId"])

    too_much = await admin_refund(http, admin, booking["id"], amount=f"{first_intent['amount'] / 100 + 0.01:.2f}")
    assert_error(too_much, 422, "VALIDATION_ERROR")
    response = await admin_refund(http, admin, booking["id"], amount="10.00")
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "requested"
    assert [r["amount"] for r in await refunds_at_provider(sdk, first_intent["id"])] == [1000]
    await deliver_everything(http, live, sdk, booking["id"])
    ledger = await ledger_of(http, admin, booking["id"])
    assert ledger["totals"]["net"] == f"{(first_intent['amount'] - 1000) / 100:.2f}"
    assert (await get_booking(http, user, booking["id"]))["status"] == "confirmed"


async def test_a_stale_decline_does_not_disturb_the_new_checkout(http, live, sdk, runtime):
    """The first checkout was declined and the passenger opened a new one; then the old tab is
    declined once more. The booking's checkout is still open: it stays pending."""
    admin, user, _flight, booking, first, second = await two_sessions(http, live, sdk, runtime)
    assert (await get_booking(http, user, booking["id"]))["status"] == "pending"
    await complete_checkout(http, first["checkoutUrl"], "declined")  # the old tab, declined again
    declined = await booking_events(sdk, booking["id"], types=("payment_intent.payment_failed",))
    assert len(declined) == 2
    assert set(await deliver_all(http, live, declined)) == {200}
    assert (await get_booking(http, user, booking["id"]))["status"] == "pending"  # the new checkout is open
    await complete_checkout(http, second["checkoutUrl"])
    await deliver_everything(http, live, sdk, booking["id"])
    confirmed = await get_booking(http, user, booking["id"])
    assert confirmed["status"] == "confirmed"
    assert [t[1] for t in transitions(confirmed)].count("payment_failed") == 1
    assert entries(await ledger_of(http, admin, booking["id"])) == [("charge", booking["totalAmount"])]


async def test_paid_after_cancelling_before_payment_is_refunded(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_seats=2)
    booking = (await book(http, user, flight)).json()
    checkout = await open_checkout(http, user, booking["id"])
    assert (await cancel(http, user, booking["id"])).status_code == 200
    await complete_checkout(http, checkout["checkoutUrl"])  # the page was still open
    await deliver_everything(http, live, sdk, booking["id"])
    intent = await payment_intent_of(sdk, checkout["sessionId"])
    assert [r["amount"] for r in await refunds_at_provider(sdk, intent["id"])] == [intent["amount"]]
    await deliver_everything(http, live, sdk, booking["id"])
    after = await get_booking(http, user, booking["id"])
    assert after["status"] == "cancelled"
    assert (await ledger_of(http, admin, booking["id"]))["totals"]["net"] == "0.00"
    assert await seats_left(runtime, flight.economy_cabin_id) == 2


async def test_old_tab_paid_after_a_paid_booking_was_cancelled_is_refunded(http, live, sdk, runtime):
    """Paid (second tab), cancelled and refunded; then the first tab is paid too. That money
    belongs to no booking: it goes back automatically."""
    admin, user, flight, booking, first, second = await two_sessions(http, live, sdk, runtime)
    await complete_checkout(http, second["checkoutUrl"])
    await deliver_everything(http, live, sdk, booking["id"])
    assert (await cancel(http, user, booking["id"])).status_code == 200
    await deliver_everything(http, live, sdk, booking["id"])
    assert (await get_booking(http, user, booking["id"]))["status"] == "refunded"

    await complete_checkout(http, first["checkoutUrl"])
    await deliver_everything(http, live, sdk, booking["id"])
    await deliver_everything(http, live, sdk, booking["id"])

    first_intent = await payment_intent_of(sdk, first["sessionId"])
    assert [r["amount"] for r in await refunds_at_provider(sdk, first_intent["id"])] == [first_intent["amount"]]
    ledger = await ledger_of(http, admin, booking["id"])
    assert ledger["totals"]["net"] == "0.00" and ledger["totals"]["charged"] == ledger["totals"]["refunded"]
    assert (await get_booking(http, user, booking["id"]))["status"] == "refunded"
    assert await seats_left(runtime, flight.economy_cabin_id) == 3


async def test_old_tab_paid_while_the_cancel_refund_is_on_its_way(http, live, sdk, runtime):
    """As above, but the first tab is paid before the cancel's refund event arrived."""
    admin, user, flight, booking, first, second = await two_sessions(http, live, sdk, runtime)
    await complete_checkout(http, second["checkoutUrl"])
    await deliver_everything(http, live, sdk, booking["id"])
    assert (await cancel(http, user, booking["id"])).status_code == 200
    await complete_checkout(http, first["checkoutUrl"])
    first_intent = await payment_intent_of(sdk, first["sessionId"])
    [captured] = [e for e in await booking_events(sdk, booking["id"], types=("payment_intent.succeeded",))
                  if e["data"]["object"]["id"] == first_intent["id"]]
    assert (await deliver(http, live, captured)).status_code == 200  # before the cancel's refund event
    assert (await get_booking(http, user, booking["id"]))["status"] == "cancelled"
    await deliver_everything(http, live, sdk, booking["id"])
    await deliver_everything(http, live, sdk, booking["id"])
    assert [r["amount"] for r in await refunds_at_provider(sdk, first_intent["id"])] == [first_intent["amount"]]
    ledger = await ledger_of(http, admin, booking["id"])
    assert ledger["totals"]["net"] == "0.00"
    assert (await get_booking(http, user, booking["id"]))["status"] == "refunded"
    assert await seats_left(runtime, flight.economy_cabin_id) == 3
