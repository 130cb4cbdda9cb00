"""Refunds: cancel after payment, admin partial refunds, never more than was captured, exactly
one provider refund per request however often it is retried (SPEC §5)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.factories import book, new_flight
from tests.fixtures.payment_flow import booking_events, deliver, paid_booking
from tests.payments.support import (
    admin_refund,
    admin_user,
    assert_error,
    audit_actions,
    cancel,
    deliver_all,
    entries,
    get_booking,
    ledger_of,
    passenger_user,
    payment_intent_of,
    refunds_at_provider,
    seats_left,
    session_id_of,
    transitions,
)


async def intent_of(sdk, booking_id: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return await payment_intent_of(sdk, await session_id_of(sdk, booking_id))


async def deliver_refund_events(http, live, sdk, booking_id: str) -> None:  # type: ignore[no-untyped-def]
    codes = await deliver_all(http, live, await booking_events(sdk, booking_id, types=("charge.refunded",)))
    assert set(codes) <= {200}


async def test_cancel_after_payment_refunds_once(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_seats=4)
    booking = await paid_booking(http, live, sdk, runtime, user, flight, count=2)
    assert await seats_left(runtime, flight.economy_cabin_id) == 2
    intent = await intent_of(sdk, booking["id"])
    key = str(uuid.uuid4())

    first = await cancel(http, user, booking["id"], key=key)
    again = await cancel(http, user, booking["id"], key=key)

    assert first.status_code == 200, first.text
    assert again.status_code == 200 and again.content == first.content
    assert first.json()["status"] == "cancelled"
    assert await seats_left(runtime, flight.economy_cabin_id) == 4  # given back at once, once
    other_key = await cancel(http, user, booking["id"])
    assert_error(other_key, 409, "INVALID_STATE_TRANSITION")
    refunds = await refunds_at_provider(sdk, intent["id"])
    assert [(r["amount"], r["status"]) for r in refunds] == [(intent["amount"], "succeeded")]
    assert refunds[0]["metadata"]["bookingId"] == booking["id"]
    # Nothing in the ledger until the provider says the money went back.
    assert [t for t, _ in entries(await ledger_of(http, admin, booking["id"]))] == ["charge"]

    await deliver_refund_events(http, live, sdk, booking["id"])
    await deliver_refund_events(http, live, sdk, booking["id"])

    refunded = await get_booking(http, user, booking["id"])
    assert refunded["status"] == "refunded"
    assert transitions(refunded)[-2:] == [("confirmed", "cancelled"), ("cancelled", "refunded")]
    ledger = await ledger_of(http, admin, booking["id"])
    assert entries(ledger) == sorted([("charge", booking["totalAmount"]), ("refund", booking["totalAmount"])])
    assert ledger["totals"]["net"] == "0.00"
    assert await seats_left(runtime, flight.economy_cabin_id) == 4  # refunded after cancel: not again
    assert len(await refunds_at_provider(sdk, intent["id"])) == 1
    assert "booking.cancel" in await audit_actions(http, admin, booking["id"])
    assert "refund.requested" in await audit_actions(http, admin, booking["id"])


async def test_cancel_before_payment_moves_no_money(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_seats=2)
    booking = (await book(http, user, flight)).json()
    response = await cancel(http, user, booking["id"])
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert await seats_left(runtime, flight.economy_cabin_id) == 2
    assert (await ledger_of(http, admin, booking["id"]))["items"] == []
    assert_error(await admin_refund(http, admin, booking["id"]), 409, "BOOKING_CONFLICT")


async def test_two_partials_then_the_rest(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_fare_minor=50000, economy_seats=3)
    booking = await paid_booking(http, live, sdk, runtime, user, flight, count=2)  # 1000.00
    intent = await intent_of(sdk, booking["id"])

    key = str(uuid.uuid4())
    first = await admin_refund(http, admin, booking["id"], amount="150.00", reason="schedule change", key=key)
    replay = await admin_refund(http, admin, booking["id"], amount="150.00", reason="schedule change", key=key)
    assert first.status_code == 201, first.text
    assert replay.status_code == 201 and replay.content == first.content
    assert first.json()["amount"] == "150.00" and first.json()["status"] == "requested"
    mismatch = await admin_refund(http, admin, booking["id"], amount="151.00", reason="schedule change", key=key)
    assert_error(mismatch, 422, "IDEMPOTENCY_PAYLOAD_MISMATCH")
    second = await admin_refund(http, admin, booking["id"], amount="0.50", reason="meal not served")
    assert second.status_code == 201, second.text
    too_much = await admin_refund(http, admin, booking["id"], amount="849.51", reason="too much")
    body = assert_error(too_much, 422, "VALIDATION_ERROR")
    assert body["details"]["refundable"] == "849.50"
    assert len(await refunds_at_provider(sdk, intent["id"])) == 2  # nothing asked for the refused one

    await deliver_refund_events(http, live, sdk, booking["id"])
    partly = await get_booking(http, user, booking["id"])
    assert partly["status"] == "confirmed"
    ledger = await ledger_of(http, admin, booking["id"])
    assert entries(ledger) == sorted([("charge", "1000.00"), ("partial_refund", "150.00"),
                                      ("partial_refund", "0.50")])
    assert ledger["totals"]["net"] == "849.50"

    rest = await admin_refund(http, admin, booking["id"], reason="the rest")
    assert rest.status_code == 201 and rest.json()["amount"] == "849.50"
    nothing_left = await admin_refund(http, admin, booking["id"], amount="0.01", reason="more")
    assert_error(nothing_left, 409, "BOOKING_CONFLICT")
    await deliver_refund_events(http, live, sdk, booking["id"])

    refunds = await refunds_at_provider(sdk, intent["id"])
    assert sorted(r["amount"] for r in refunds) == [50, 15000, 84950]
    done = await get_booking(http, user, booking["id"])
    assert done["status"] == "refunded"
    assert await seats_left(runtime, flight.economy_cabin_id) == 3  # refunded before departure
    ledger = await ledger_of(http, admin, booking["id"])
    assert ledger["totals"] == {"charged": "1000.00", "refunded": "1000.00", "disputed": "0.00", "net": "0.00",
                                "currency": "SAR"}
    assert len(ledger["items"]) == 4
    actions = await audit_actions(http, admin, booking["id"])
    assert actions.count("refund.requested") == 3
    # The refunded booking cannot be cancelled or refunded again.
    assert_error(await cancel(http, user, booking["id"]), 409, "INVALID_STATE_TRANSITION")


async def test_refund_amounts_that_are_refused(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_fare_minor=100000)
    booking = await paid_booking(http, live, sdk, runtime, user, flight)
    for amount in ("0", "0.00", "-1.00", "1000.01", "10.001", "abc", "1e-2x", "NaN", "1000.00.0", "1e4"):
        response = await admin_refund(http, admin, booking["id"], amount=amount)
        assert_error(response, 422, "VALIDATION_ERROR")
    assert await refunds_at_provider(sdk, (await intent_of(sdk, booking["id"]))["id"]) == []
    assert "refund.requested" not in await audit_actions(http, admin, booking["id"])


async def test_refund_needs_key_admin_and_payment(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime)
    paid = await paid_booking(http, live, sdk, runtime, user, flight)
    unpaid = (await book(http, user, flight)).json()

    no_key = await http.post(f"/api/v1/admin/bookings/{paid['id']}/refunds", json={"reason": "x"},
                             headers=admin.headers)
    assert_error(no_key, 400, "IDEMPOTENCY_KEY_REQUIRED")
    assert_error(await admin_refund(http, user, paid["id"]), 403, "FORBIDDEN")
    assert_error(await admin_refund(http, admin, unpaid["id"]), 409, "BOOKING_CONFLICT")
    assert_error(await admin_refund(http, admin, str(uuid.uuid4())), 404, "NOT_FOUND")
    unknown_field = await http.post(f"/api/v1/admin/bookings/{paid['id']}/refunds",
                                    json={"reason": "x", "amountMinor": 1},
                                    headers={**admin.headers, "Idempotency-Key": str(uuid.uuid4())})
    assert_error(unknown_field, 422, "VALIDATION_ERROR")
    assert await refunds_at_provider(sdk, (await intent_of(sdk, paid["id"]))["id"]) == []


@pytest.mark.postgres_only
async def test_concurrent_refunds_never_exceed_the_capture(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_fare_minor=100000)
    booking = await paid_booking(http, live, sdk, runtime, user, flight)  # 1000.00
    intent = await intent_of(sdk, booking["id"])

    answers = await asyncio.gather(*(admin_refund(http, admin, booking["id"], amount="300.00", reason=f"r{i}")
                                     for i in range(6)))

    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 201, 201, 422, 422, 422], [a.text for a in answers]
    refunds = await refunds_at_provider(sdk, intent["id"])
    assert sum(r["amount"] for r in refunds) == 90000 and len(refunds) == 3
    # The rest, twice at once with different keys (cancel and an admin refund): one wins.
    racing = await asyncio.gather(cancel(http, user, booking["id"]),
                                  admin_refund(http, admin, booking["id"], reason="rest"))
    refunds = await refunds_at_provider(sdk, intent["id"])
    assert sum(r["amount"] for r in refunds) == 100000, [a.text for a in racing]
    await deliver_refund_events(http, live, sdk, booking["id"])
    ledger = await ledger_of(http, admin, booking["id"])
    assert ledger["totals"]["refunded"] == "1000.00" and ledger["totals"]["net"] == "0.00"
    assert (await get_booking(http, user, booking["id"]))["status"] == "refunded"


@pytest.mark.postgres_only
async def test_the_same_refund_request_at_once_is_one_refund(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    booking = await paid_booking(http, live, sdk, runtime, user, await new_flight(runtime))
    key = str(uuid.uuid4())
    answers = await asyncio.gather(*(admin_refund(http, admin, booking["id"], amount="10.00", key=key)
                                     for _ in range(5)))
    assert {a.status_code for a in answers} <= {201, 409}
    assert any(a.status_code == 201 for a in answers)
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["code"] == "IDEMPOTENCY_IN_PROGRESS" and answer.json()["retryable"] is True
    assert len(await refunds_at_provider(sdk, (await intent_of(sdk, booking["id"]))["id"])) == 1


async def test_passenger_cannot_cancel_someone_elses_paid_booking(http, live, sdk, runtime):
    user, stranger = await passenger_user(http), await passenger_user(http, 1)
    booking = await paid_booking(http, live, sdk, runtime, user, await new_flight(runtime))
    assert_error(await cancel(http, stranger, booking["id"]), 404, "NOT_FOUND")
    assert (await get_booking(http, user, booking["id"]))["status"] == "confirmed"
    assert await refunds_at_provider(sdk, (await intent_of(sdk, booking["id"]))["id"]) == []


async def test_full_admin_refund_of_a_confirmed_booking(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_seats=2)
    booking = await paid_booking(http, live, sdk, runtime, user, flight)
    response = await admin_refund(http, admin, booking["id"], reason="involuntary")
    assert response.status_code == 201 and response.json()["amount"] == booking["totalAmount"]
    assert (await get_booking(http, user, booking["id"]))["status"] == "confirmed"  # until the provider says
    for event in await booking_events(sdk, booking["id"], types=("charge.refunded",)):
        assert (await deliver(http, live, event)).status_code == 200
    done = await get_booking(http, user, booking["id"])
    assert done["status"] == "refunded"
    assert transitions(done)[-1] == ("confirmed", "refunded")
    assert await seats_left(runtime, flight.economy_cabin_id) == 2
    ledger = await ledger_of(http, admin, booking["id"])
    assert entries(ledger) == sorted([("charge", booking["totalAmount"]), ("refund", booking["totalAmount"])])


@pytest.mark.parametrize("currency,fare,partial,refused,net", [
    ("JPY", 15000, "4000", "0.5", "11000"),
    ("KWD", 12345, "1.234", "1.2345", "11.111"),
])
async def test_partial_refunds_in_other_exponents(http, live, sdk, runtime, currency, fare, partial, refused, net):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_fare_minor=fare, currency=currency)
    booking = await paid_booking(http, live, sdk, runtime, user, flight)
    assert_error(await admin_refund(http, admin, booking["id"], amount=refused), 422, "VALIDATION_ERROR")
    response = await admin_refund(http, admin, booking["id"], amount=partial)
    assert response.status_code == 201 and response.json()["amount"] == partial
    await deliver_refund_events(http, live, sdk, booking["id"])
    ledger = await ledger_of(http, admin, booking["id"])
    assert ledger["totals"]["net"] == net and ledger["totals"]["currency"] == currency
    refunds = await refunds_at_provider(sdk, (await intent_of(sdk, booking["id"]))["id"])
    assert [(r["amount"], r["currency"]) for r in refunds] == [(fare - int(net.replace(".", "")), currency.lower())]
