"""The periodic payment jobs: events left unprocessed are retried; lapsed checkouts are closed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from ais.bookings.models import Booking
from ais.bookings.tasks import expire_stale_holds
from ais.db.base import utcnow
from ais.payments.models import Payment, PaymentStatus, ProviderEvent
from ais.payments.tasks import expire_lapsed_checkouts, retry_unprocessed_events
from ais.runtime import Runtime
from ais.wiring import create_runtime
from tests.factories import book, idempotency_key, new_flight, new_user
from tests.fixtures.payment_flow import booking_events, complete_checkout, open_checkout, wait_for_status


@pytest.fixture
async def live_runtime(live) -> AsyncIterator[Runtime]:
    """A runtime in the test's event loop whose gateway talks to the live server's sandbox."""
    runtime = create_runtime(live.settings)
    yield runtime
    await runtime.close()


async def test_an_event_stored_but_never_processed_is_retried(http, sdk, live_runtime, runtime):
    user = await new_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    await complete_checkout(http, (await open_checkout(http, user, booking["id"]))["checkoutUrl"])
    [completed] = await booking_events(sdk, booking["id"], types=("checkout.session.completed",))
    # As if the process died right after storing the event: in the inbox, not processed.
    async with live_runtime.session_factory() as session:
        session.add(ProviderEvent(id=completed["id"], type=completed["type"], payload=completed, processed=False,
                                  attempts=0, received_at=utcnow() - timedelta(minutes=5)))
        await session.commit()
    assert await retry_unprocessed_events(live_runtime) == 1
    confirmed = await wait_for_status(http, user, booking["id"], "confirmed", timeout=1)
    assert confirmed["status"] == "confirmed"
    async with live_runtime.session_factory() as session:
        stored = await session.get(ProviderEvent, completed["id"])
        assert stored.processed and stored.attempts == 1
    assert await retry_unprocessed_events(live_runtime) == 0


async def test_a_lapsed_hold_closes_its_checkout_at_the_provider(http, sdk, live_runtime, runtime):
    user = await new_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    checkout = await open_checkout(http, user, booking["id"])
    async with live_runtime.session_factory() as session:
        await session.execute(update(Booking).where(Booking.id == uuid.UUID(booking["id"]))
                              .values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    assert await expire_stale_holds(live_runtime) >= 1
    assert await expire_lapsed_checkouts(live_runtime) >= 1
    session_at_provider = (await sdk.v1.checkout.sessions.retrieve_async(checkout["sessionId"])).to_dict()
    assert session_at_provider["status"] == "expired"
    async with live_runtime.session_factory() as session:
        payment = await session.scalar(select(Payment).where(Payment.checkout_session_id == checkout["sessionId"]))
        assert payment.status == PaymentStatus.FAILED
    page = await http.post(checkout["checkoutUrl"], data={"outcome": "succeeded"}, follow_redirects=False)
    assert page.status_code == 410  # the passenger can no longer pay for seats that went back on sale


async def test_a_cancelled_booking_closes_its_checkout_at_the_provider(http, sdk, live_runtime, runtime):
    user = await new_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    checkout = await open_checkout(http, user, booking["id"])
    cancelled = await http.post(f"/api/v1/bookings/{booking['id']}/cancel",
                                headers={**user.headers, **idempotency_key()})
    assert cancelled.status_code == 200, cancelled.text
    assert await expire_lapsed_checkouts(live_runtime) >= 1
    session_at_provider = (await sdk.v1.checkout.sessions.retrieve_async(checkout["sessionId"])).to_dict()
    assert session_at_provider["status"] == "expired"
    page = await http.post(checkout["checkoutUrl"], data={"outcome": "succeeded"}, follow_redirects=False)
    assert page.status_code == 410  # nobody pays for a booking that was cancelled
