"""A hold cannot be kept alive by paying again and again (SPEC §4): at most 3 checkout sessions per
booking (a provider call that failed does not count), and the hold follows the open checkout but
never past HOLD_MINUTES + 30 minutes after the booking was created."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import update

from ais.bookings.models import Booking
from ais.db.base import utcnow
from ais.payments.tasks import expire_lapsed_checkouts
from tests.factories import book, idempotency_key, new_flight
from tests.fixtures.payment_flow import booking_events, complete_checkout, open_checkout
from tests.payments.provider_faults import app_with_provider
from tests.payments.sandbox.serving import unused_url
from tests.payments.support import assert_error, cancel, deliver_all, get_booking, lapse_hold, passenger_user


async def test_three_payment_attempts_then_the_booking_must_be_rebooked(http, live, sdk, runtime):
    user = await passenger_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    pay_path = f"/api/v1/bookings/{booking['id']}/pay"
    async with app_with_provider(live.settings, unused_url()) as broken:  # the provider is down
        failed_call = await broken.post(pay_path, headers={**user.headers, **idempotency_key()})
    assert_error(failed_call, 503, "SERVICE_UNAVAILABLE")  # and that does not count as an attempt

    sessions = set()
    for _ in range(3):
        checkout = await open_checkout(http, user, booking["id"])
        sessions.add(checkout["sessionId"])
        await complete_checkout(http, checkout["checkoutUrl"], "declined")
        assert set(await deliver_all(http, live, await booking_events(sdk, booking["id"]))) == {200}
        assert (await get_booking(http, user, booking["id"]))["status"] == "payment_failed"
    assert len(sessions) == 3

    fourth = await http.post(pay_path, headers={**user.headers, **idempotency_key()})
    body = assert_error(fourth, 409, "BOOKING_CONFLICT")
    assert body["details"] == {"maxPaymentAttempts": 3, "paymentAttempts": 3}
    assert (await get_booking(http, user, booking["id"]))["status"] == "payment_failed"
    assert (await cancel(http, user, booking["id"])).status_code == 200  # the seats go back for a rebooking


async def test_the_hold_follows_the_checkout_but_never_past_hold_minutes_plus_thirty(
        http, live, sdk, runtime, live_runtime):
    user = await passenger_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    # Booked 50 minutes ago; the hold (already followed an earlier checkout) has 5 minutes left.
    created = utcnow() - timedelta(minutes=50)
    async with runtime.session_factory() as session:
        await session.execute(update(Booking).where(Booking.id == uuid.UUID(booking["id"]))
                              .values(created_at=created, expires_at=utcnow() + timedelta(minutes=5)))
        await session.commit()

    checkout = await open_checkout(http, user, booking["id"])
    cap = created + timedelta(minutes=live.settings.hold_minutes + 30)
    held = await get_booking(http, user, booking["id"])
    assert held["status"] == "pending"
    assert abs(datetime.fromisoformat(held["expiresAt"]) - cap) < timedelta(seconds=1), (held["expiresAt"], cap)
    assert abs(datetime.fromisoformat(checkout["expiresAt"]) - cap) < timedelta(seconds=1)  # pay by then
    at_provider = (await sdk.v1.checkout.sessions.retrieve_async(checkout["sessionId"])).to_dict()
    assert at_provider["expires_at"] >= (utcnow() + timedelta(minutes=29)).timestamp()  # Stripe's minimum

    # The session outlives the hold: when the hold lapses, the session is closed with it.
    await lapse_hold(runtime, booking["id"])
    assert (await get_booking(http, user, booking["id"]))["status"] == "expired"
    assert await expire_lapsed_checkouts(live_runtime) >= 1
    at_provider = (await sdk.v1.checkout.sessions.retrieve_async(checkout["sessionId"])).to_dict()
    assert at_provider["status"] == "expired"
