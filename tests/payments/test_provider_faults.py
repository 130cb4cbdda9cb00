"""`pay` when the payment provider is down, hangs or is slow (SPEC §10): 503 SERVICE_UNAVAILABLE,
retryable, within 15 s however the provider hangs; the booking stays `reserved` and payable, its
history records no checkout that never opened; and a booking cancelled while its checkout was
being created gets no open checkout."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from ais.payments.gateway import ProviderUnavailable
from ais.payments.models import Payment, PaymentStatus
from ais.payments.stripe_gateway import StripeGateway
from tests.factories import book, idempotency_key, new_flight
from tests.payments.provider_faults import (
    GatedProxy,
    Stopwatch,
    app_with_provider,
    silent_provider,
    trickling_provider,
)
from tests.payments.sandbox.serving import unused_url
from tests.payments.support import assert_error, cancel, get_booking, passenger_user, transitions

PAY_ANSWERS_WITHIN_SECONDS = 15  # SPEC §10


async def _attempts(runtime, booking_id: str) -> list[tuple[int, str | None, PaymentStatus]]:  # type: ignore[no-untyped-def]
    async with runtime.session_factory() as session:
        rows = await session.scalars(select(Payment).where(Payment.booking_id == uuid.UUID(booking_id))
                                     .order_by(Payment.attempt).execution_options(populate_existing=True))
        return [(row.attempt, row.checkout_session_id, row.status) for row in rows]


async def _pay_through_a_broken_provider(http, live, runtime, provider_url: str):  # type: ignore[no-untyped-def]
    user = await passenger_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    key = idempotency_key()
    async with app_with_provider(live.settings, provider_url) as broken:
        with Stopwatch() as watch:
            answer = await broken.post(f"/api/v1/bookings/{booking['id']}/pay", headers={**user.headers, **key})
    return user, booking, key, answer, watch.seconds


async def _assert_untouched_and_still_payable(http, runtime, user, booking, key) -> None:  # type: ignore[no-untyped-def]
    after = await get_booking(http, user, booking["id"])
    assert after["status"] == "reserved"
    assert transitions(after) == [("initiated", "reserved")]  # no checkout that never opened
    assert after["expiresAt"] == booking["expiresAt"]
    # The same request again, once the provider answers: it goes through, as the same attempt.
    retried = await http.post(f"/api/v1/bookings/{booking['id']}/pay", headers={**user.headers, **key})
    assert retried.status_code == 200, retried.text
    paying = await get_booking(http, user, booking["id"])
    assert transitions(paying) == [("initiated", "reserved"), ("reserved", "pending")]
    assert await _attempts(runtime, booking["id"]) == [(1, retried.json()["sessionId"], PaymentStatus.PENDING)]


async def test_pay_with_the_provider_down_leaves_the_booking_reserved(http, live, runtime):
    user, booking, key, answer, seconds = await _pay_through_a_broken_provider(http, live, runtime, unused_url())
    body = assert_error(answer, 503, "SERVICE_UNAVAILABLE")
    assert body["retryable"] is True and seconds < PAY_ANSWERS_WITHIN_SECONDS
    await _assert_untouched_and_still_payable(http, runtime, user, booking, key)
    assert int(answer.headers["Retry-After"]) >= 1


async def test_pay_against_a_hanging_provider_answers_within_15_seconds(http, live, runtime):
    with silent_provider() as url:
        user, booking, key, answer, seconds = await _pay_through_a_broken_provider(http, live, runtime, url)
    body = assert_error(answer, 503, "SERVICE_UNAVAILABLE")
    assert body["retryable"] is True
    assert seconds < PAY_ANSWERS_WITHIN_SECONDS, seconds
    await _assert_untouched_and_still_payable(http, runtime, user, booking, key)


async def test_the_call_deadline_stops_a_provider_that_trickles_forever(live):
    """Every read gets a byte in time, so only the overall deadline can end the call."""
    with trickling_provider() as url:
        gateway = StripeGateway(live.settings.model_copy(update={"stripe_api_base": url}))
        try:
            with Stopwatch() as watch, pytest.raises(ProviderUnavailable):
                # wait_for only keeps a regression from hanging the suite: it fails the test.
                await asyncio.wait_for(gateway.retrieve_checkout_session("cs_test_trickle"), 60)
        finally:
            await gateway.close()
    assert watch.seconds < PAY_ANSWERS_WITHIN_SECONDS, watch.seconds


async def test_a_booking_cancelled_while_its_checkout_is_created_gets_no_open_checkout(http, live, sdk, runtime):
    user = await passenger_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    async with GatedProxy(live.url) as proxy, \
            app_with_provider(live.settings, f"{proxy.url}/_sandbox/stripe") as proxied:
        paying = asyncio.create_task(proxied.post(f"/api/v1/bookings/{booking['id']}/pay",
                                                  headers={**user.headers, **idempotency_key()}))
        await asyncio.wait_for(proxy.arrived.wait(), 10)  # the provider call is in flight
        cancelled = await cancel(http, user, booking["id"])
        assert cancelled.status_code == 200, cancelled.text
        proxy.release()
        answer = await paying

    assert_error(answer, 409, "INVALID_STATE_TRANSITION")
    after = await get_booking(http, user, booking["id"])
    assert transitions(after) == [("initiated", "reserved"), ("reserved", "cancelled")]
    [(number, session_id, status)] = await _attempts(runtime, booking["id"])
    assert number == 1 and session_id and status == PaymentStatus.FAILED  # recorded, and closed at once
    at_provider = (await sdk.v1.checkout.sessions.retrieve_async(session_id)).to_dict()
    assert at_provider["status"] == "expired"
