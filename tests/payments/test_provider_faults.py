"""`pay` when the payment provider is down, hangs or is slow (SPEC §10): 503 SERVICE_UNAVAILABLE,
retryable, within 15 s however the provider hangs; the booking stays `reserved` and payable, its
history records no checkout that never opened; and a booking cancelled while its checkout was
being created gets no open checkout."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from ais.payments import checkout_flow
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
from tests.payments.support import assert_error, cancel, get_booking, passenger_user, provider_calls, transitions

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
    unavailable_before = await provider_calls(http, "checkout_session_create", "unavailable")
    user, booking, key, answer, seconds = await _pay_through_a_broken_provider(http, live, runtime, unused_url())
    body = assert_error(answer, 503, "SERVICE_UNAVAILABLE")
    # Operators see it: the failed call is counted, with the time it took.
    assert await provider_calls(http, "checkout_session_create", "unavailable") == unavailable_before + 1
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


async def test_a_checkout_whose_answer_was_lost_is_asked_for_again_with_the_same_parameters(
        http, live, runtime, monkeypatch):
    """The provider made the session, but its answer died with the request. The next pay asks
    again with the same idempotency key, so it must send the same parameters (the provider
    refuses a key reused with others): the expiry asked for the first time, not a new one."""
    user = await passenger_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    pay_path = f"/api/v1/bookings/{booking['id']}/pay"
    record_session = checkout_flow._record_session

    async def crash_with_the_answer(*args, **kwargs):  # type: ignore[no-untyped-def]
        monkeypatch.setattr(checkout_flow, "_record_session", record_session)  # once
        raise ConnectionResetError("the process died holding the provider's answer")

    monkeypatch.setattr(checkout_flow, "_record_session", crash_with_the_answer)
    async with app_with_provider(live.settings, f"{live.url}/_sandbox/stripe") as app:
        lost = await app.post(pay_path, headers={**user.headers, **idempotency_key()})
        assert lost.status_code >= 500, lost.text
        [(number, session_id, _)] = await _attempts(runtime, booking["id"])
        assert number == 1 and session_id is None  # asked, never recorded
        await asyncio.sleep(1.1)  # an expiry computed now would be another second
        found = await app.post(pay_path, headers={**user.headers, **idempotency_key()})
    assert found.status_code == 200, found.text
    assert await _attempts(runtime, booking["id"]) == [(1, found.json()["sessionId"], PaymentStatus.PENDING)]
