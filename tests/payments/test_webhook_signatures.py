"""`POST /webhooks/stripe` trusts only what Stripe signed (SPEC §5): a missing, wrong, stale,
tampered or unparsable signature is answered 400 INVALID_SIGNATURE in the error contract's
shape and nothing is stored; a good one inside the 5-minute tolerance is accepted."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from ais.payments.sandbox import sign_payload
from tests.factories import book, new_flight
from tests.fixtures.payment_flow import booking_events, complete_checkout, deliver, open_checkout
from tests.payments.support import (
    admin_user,
    assert_error,
    get_booking,
    passenger_user,
    stored_event,
    stored_event_count,
)


def unknown_event(event_type: str = "customer.created") -> dict[str, Any]:
    return {"id": f"evt_test_{uuid.uuid4().hex[:20]}", "object": "event", "api_version": "2024-06-20",
            "created": int(time.time()), "type": event_type, "livemode": False, "pending_webhooks": 1,
            "data": {"object": {"id": f"cus_{uuid.uuid4().hex[:14]}", "object": "customer"}},
            "request": {"id": None, "idempotency_key": None}}


@pytest.fixture
async def paid_event(http, live, sdk, runtime) -> dict[str, Any]:
    """A real `checkout.session.completed` of a booking paid on the hosted page, not yet delivered."""
    user = await passenger_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    await complete_checkout(http, (await open_checkout(http, user, booking["id"]))["checkoutUrl"])
    [event] = await booking_events(sdk, booking["id"], types=("checkout.session.completed",))
    event["_user"], event["_booking"] = user, booking["id"]
    return event


def _clean(event: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in event.items() if not key.startswith("_")}


def _bad_headers(live, payload: bytes) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    secret = live.settings.stripe_webhook_secret
    now = int(time.time())
    good = sign_payload(payload, secret, now)
    return {
        "missing": {},
        "empty": {"Stripe-Signature": ""},
        "wrong secret": {"Stripe-Signature": sign_payload(payload, "whsec_" + "x" * 32, now)},
        "stale (6 minutes)": {"Stripe-Signature": sign_payload(payload, secret, now - 360)},
        "tampered body": {"Stripe-Signature": sign_payload(payload + b" ", secret, now)},
        "signature of another event": {"Stripe-Signature": sign_payload(b'{"id": "evt_other"}', secret, now)},
        "garbage": {"Stripe-Signature": "this is not a signature"},
        "no v1 scheme": {"Stripe-Signature": good.replace("v1=", "v0=")},
        "no timestamp": {"Stripe-Signature": good.split(",", 1)[1]},
        "timestamp not a number": {"Stripe-Signature": good.replace(f"t={now}", "t=yesterday")},
        "truncated signature": {"Stripe-Signature": good[:-6]},
    }


async def test_every_bad_signature_is_refused_and_nothing_is_stored(http, live, runtime, paid_event):
    event = _clean(paid_event)
    payload = json.dumps(event).encode()
    before = await stored_event_count(runtime)
    for case, headers in _bad_headers(live, payload).items():
        response = await http.post("/webhooks/stripe", content=payload,
                                   headers={**headers, "Content-Type": "application/json"})
        body = assert_error(response, 400, "INVALID_SIGNATURE")
        assert body["retryable"] is False, case
    assert await stored_event_count(runtime) == before
    assert await stored_event(runtime, event["id"]) is None
    booking = await get_booking(http, paid_event["_user"], paid_event["_booking"])
    assert booking["status"] == "pending"  # the paid event did nothing while unsigned


async def test_tampered_amount_with_the_original_signature_is_refused(http, live, runtime, paid_event):
    """An attacker replays a real signature over a body whose amount they changed."""
    event = _clean(paid_event)
    original = json.dumps(event).encode()
    signature = sign_payload(original, live.settings.stripe_webhook_secret, int(time.time()))
    forged = json.loads(original)
    forged["data"]["object"]["amount_total"] = 1
    before = await stored_event_count(runtime)
    response = await http.post("/webhooks/stripe", content=json.dumps(forged).encode(),
                               headers={"Stripe-Signature": signature, "Content-Type": "application/json"})
    assert_error(response, 400, "INVALID_SIGNATURE")
    assert await stored_event_count(runtime) == before


async def test_a_signed_body_that_is_not_an_event_is_refused_and_not_stored(http, live, runtime):
    before = await stored_event_count(runtime)
    for payload in (b"not json", b"[]", b'{"id": "evt_x"}', json.dumps({"type": "x", "data": {}}).encode()):
        response = await deliver(http, live, {}, body=payload)
        assert_error(response, 400, "INVALID_SIGNATURE")
    assert await stored_event_count(runtime) == before


async def test_a_four_minute_old_signature_is_accepted(http, live, runtime, paid_event):
    event = _clean(paid_event)
    response = await deliver(http, live, event, timestamp=int(time.time()) - 240)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == event["id"]
    stored = await stored_event(runtime, event["id"])
    assert stored is not None and stored.processed and stored.attempts == 1 and stored.last_error is None
    booking = await get_booking(http, paid_event["_user"], paid_event["_booking"])
    assert booking["status"] == "confirmed"


async def test_a_stale_delivery_of_a_processed_event_is_still_refused(http, live, runtime, paid_event):
    """Replay protection does not depend on the inbox: an old signature is refused even for an
    event we know."""
    event = _clean(paid_event)
    assert (await deliver(http, live, event)).status_code == 200
    stale = await deliver(http, live, event, timestamp=int(time.time()) - 301 - 60)
    assert_error(stale, 400, "INVALID_SIGNATURE")
    stored = await stored_event(runtime, event["id"])
    assert stored is not None and stored.attempts == 1


async def test_an_unknown_event_type_is_stored_answered_200_and_ignored(http, live, runtime):
    event = unknown_event()
    before = await stored_event_count(runtime)
    response = await deliver(http, live, event)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "id": event["id"]}
    assert await stored_event_count(runtime) == before + 1
    stored = await stored_event(runtime, event["id"])
    assert stored is not None and stored.processed and stored.type == "customer.created"
    assert stored.payload == event
    again = await deliver(http, live, event)
    assert again.status_code == 200
    assert await stored_event_count(runtime) == before + 1
    assert (await stored_event(runtime, event["id"])).attempts == 1  # type: ignore[union-attr]


async def test_known_types_about_a_payment_we_never_made_are_harmless(http, live, runtime):
    """Signed events of handled types about a PaymentIntent that is not ours (another system on
    the same account): stored, answered 200, no ledger entry, no booking touched."""
    intent_id, charge_id = f"pi_{uuid.uuid4().hex[:24]}", f"ch_{uuid.uuid4().hex[:24]}"
    objects = {
        "payment_intent.succeeded": {"id": intent_id, "object": "payment_intent", "amount": 5000,
                                     "amount_received": 5000, "currency": "sar", "status": "succeeded",
                                     "metadata": {"paymentId": "not-a-uuid"}, "latest_charge": charge_id},
        "charge.refunded": {"id": charge_id, "object": "charge", "amount": 5000, "amount_captured": 5000,
                            "amount_refunded": 5000, "currency": "sar", "status": "succeeded",
                            "payment_intent": intent_id, "metadata": {}},
        "charge.dispute.created": {"id": f"du_{uuid.uuid4().hex[:24]}", "object": "dispute", "amount": 5000,
                                   "currency": "sar", "charge": charge_id, "payment_intent": intent_id,
                                   "status": "needs_response", "metadata": {}},
    }
    admin = await admin_user(http, runtime)
    before = (await http.get("/api/v1/admin/ledger", params={"limit": 1}, headers=admin.headers)).json()
    for event_type, obj in objects.items():
        event = unknown_event(event_type)
        event["data"]["object"] = obj
        response = await deliver(http, live, event)
        assert response.status_code == 200, (event_type, response.text)
        stored = await stored_event(runtime, event["id"])
        assert stored is not None and stored.processed, event_type
    after = (await http.get("/api/v1/admin/ledger", params={"limit": 1}, headers=admin.headers)).json()
    assert after["totalsByCurrency"] == before["totalsByCurrency"]


async def test_an_oversized_body_is_refused_before_anything(http, live, runtime):
    before = await stored_event_count(runtime)
    event = unknown_event()
    event["data"]["object"]["padding"] = "x" * (600 * 1024)
    response = await deliver(http, live, event)
    assert_error(response, 400, "INVALID_SIGNATURE")
    assert await stored_event_count(runtime) == before
