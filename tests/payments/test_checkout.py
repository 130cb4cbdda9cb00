"""Paying a booking through the official stripe SDK against the sandbox (SPEC §5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import book, idempotency_key, new_flight, new_user
from tests.fixtures.payment_flow import booking_events, complete_checkout, deliver, open_checkout, wait_for_status
from tests.payments.support import provider_calls


async def test_happy_path_to_confirmed_with_one_charge(live_delivering, runtime):
    import httpx

    async with httpx.AsyncClient(base_url=live_delivering.url, timeout=30) as http:
        user = await new_user(http)
        admin = await new_user(http, runtime, admin=True)
        flight = await new_flight(runtime, economy_fare_minor=61725)
        booking = (await book(http, user, flight, count=2)).json()
        checkout = await open_checkout(http, user, booking["id"])
        assert checkout["checkoutUrl"].startswith(f"{live_delivering.url}/_sandbox/checkout/cs_")
        assert checkout["sessionId"].startswith("cs_")
        page = await http.get(checkout["checkoutUrl"])
        assert page.status_code == 200 and "1,234.50" in page.text
        redirect = await complete_checkout(http, checkout["checkoutUrl"])
        assert checkout["sessionId"] in redirect.headers["location"]

        confirmed = await wait_for_status(http, user, booking["id"], "confirmed")
        assert confirmed["status"] == "confirmed", confirmed["statusHistory"]
        assert all(p["ticketNumber"] for p in confirmed["passengers"])
        assert [h["to"] for h in confirmed["statusHistory"]] == ["reserved", "pending", "paid", "confirmed"]
        ledger = (await http.get("/api/v1/admin/ledger", params={"bookingId": booking["id"]},
                                 headers=admin.headers)).json()
        assert [(e["type"], e["amount"]) for e in ledger["items"]] == [("charge", "1234.50")]
        assert ledger["totals"] == {"charged": "1234.50", "refunded": "0.00", "disputed": "0.00",
                                    "net": "1234.50", "currency": "SAR"}


async def test_pay_needs_a_key_and_replays_and_reuses_the_open_session(http, live, runtime):
    user = await new_user(http)
    flight = await new_flight(runtime)
    booking = (await book(http, user, flight)).json()
    missing = await http.post(f"/api/v1/bookings/{booking['id']}/pay", headers=user.headers)
    assert missing.status_code == 400 and missing.json()["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    key = idempotency_key()
    created_before = await provider_calls(http, "checkout_session_create", "ok")
    first = await http.post(f"/api/v1/bookings/{booking['id']}/pay", headers={**user.headers, **key})
    again = await http.post(f"/api/v1/bookings/{booking['id']}/pay", headers={**user.headers, **key})
    assert first.status_code == 200 and again.content == first.content
    other_key = await open_checkout(http, user, booking["id"])
    assert other_key["sessionId"] == first.json()["sessionId"]  # the open session is reused
    # One call to the provider in all (the replay and the reuse ask it nothing), in the metrics.
    assert await provider_calls(http, "checkout_session_create", "ok") == created_before + 1
    expires = datetime.fromisoformat(first.json()["expiresAt"])
    assert expires - datetime.now(UTC) >= timedelta(minutes=29)  # the provider's 30-minute floor
    pending = (await http.get(f"/api/v1/bookings/{booking['id']}", headers=user.headers)).json()
    assert pending["status"] == "pending"
    assert datetime.fromisoformat(pending["expiresAt"]) >= expires - timedelta(seconds=1)  # hold extended


async def test_pay_and_cancel_by_record_locator_for_its_owner_only(http, live, runtime):
    """The ownership check and the lock are one statement, by id or by record locator: a stranger's
    request finds nothing (404, nothing locked), the owner's goes through, in either case."""
    owner, stranger = await new_user(http), await new_user(http)
    booking = (await book(http, owner, await new_flight(runtime))).json()
    locator = booking["reference"].lower()  # record locators are matched whatever their case
    for path in (f"/api/v1/bookings/{locator}/pay", f"/api/v1/bookings/{locator}/cancel"):
        refused = await http.post(path, headers={**stranger.headers, **idempotency_key()})
        assert refused.status_code == 404 and refused.json()["code"] == "NOT_FOUND", refused.text
    paying = await http.post(f"/api/v1/bookings/{locator}/pay", headers={**owner.headers, **idempotency_key()})
    assert paying.status_code == 200 and paying.json()["sessionId"].startswith("cs_"), paying.text
    cancelled = await http.post(f"/api/v1/bookings/{locator}/cancel", headers={**owner.headers, **idempotency_key()})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text


async def test_another_passenger_cannot_pay_or_see_it(http, live, runtime):
    owner, stranger = await new_user(http), await new_user(http)
    booking = (await book(http, owner, await new_flight(runtime))).json()
    response = await http.post(f"/api/v1/bookings/{booking['id']}/pay", headers={**stranger.headers,
                                                                                 **idempotency_key()})
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize("currency,fare,total", [("JPY", 7500, 15000), ("SAR", 61725, 123450), ("KWD", 12345, 12345)])
async def test_money_in_every_exponent_end_to_end(http, live, sdk, runtime, currency, fare, total):
    user = await new_user(http)
    admin = await new_user(http, runtime, admin=True)
    count = total // fare
    flight = await new_flight(runtime, economy_fare_minor=fare, currency=currency)
    booking = (await book(http, user, flight, count=count)).json()
    checkout = await open_checkout(http, user, booking["id"])
    session = (await sdk.v1.checkout.sessions.retrieve_async(checkout["sessionId"])).to_dict(recursive=True)
    assert (session["amount_total"], session["currency"]) == (total, currency.lower())
    assert session["metadata"]["bookingId"] == booking["id"]
    await complete_checkout(http, checkout["checkoutUrl"])
    for event in await booking_events(sdk, booking["id"]):
        assert (await deliver(http, live, event)).status_code == 200
    confirmed = await wait_for_status(http, user, booking["id"], "confirmed", timeout=1)
    assert confirmed["status"] == "confirmed"
    ledger = (await http.get("/api/v1/admin/ledger", params={"bookingId": booking["id"]},
                             headers=admin.headers)).json()
    assert ledger["totals"]["charged"] == confirmed["totalAmount"]
    assert ledger["totals"]["currency"] == currency
