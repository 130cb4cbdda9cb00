"""`Idempotency-Key` as Stripe honours it: replay, mismatch, scope, and what is not stored."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
import stripe

from tests.payments.sandbox.support import SECRET_KEY, RunningSandbox, paid_session, session_params


def key() -> str:
    return f"booking-{uuid.uuid4()}-attempt-1"


async def test_same_key_same_params_replays_the_stored_response(client: stripe.StripeClient) -> None:
    idempotency_key = key()
    params = session_params()

    first = await client.v1.checkout.sessions.create_async(
        params=params, options={"idempotency_key": idempotency_key})
    again = await client.v1.checkout.sessions.create_async(
        params=params, options={"idempotency_key": idempotency_key})

    assert again.id == first.id
    assert again.to_dict() == first.to_dict()
    assert first.last_response.headers.get("Idempotent-Replayed") is None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.last_response.headers["Original-Request"] == first.last_response.request_id


async def test_same_key_other_params_is_an_idempotency_error(client: stripe.StripeClient) -> None:
    idempotency_key = key()
    await client.v1.checkout.sessions.create_async(
        params=session_params(amount=100000), options={"idempotency_key": idempotency_key})

    with pytest.raises(stripe.IdempotencyError) as caught:
        await client.v1.checkout.sessions.create_async(
            params=session_params(amount=100001), options={"idempotency_key": idempotency_key})
    assert caught.value.http_status == 400
    assert caught.value.error is not None and caught.value.error.type == "idempotency_error"

    with pytest.raises(stripe.IdempotencyError):  # same key on another endpoint
        await client.v1.refunds.create_async(params={"charge": "ch_x"}, options={"idempotency_key": idempotency_key})


async def test_concurrent_requests_with_one_key_create_one_object(client: stripe.StripeClient) -> None:
    idempotency_key = key()
    results = await asyncio.gather(*(
        client.v1.checkout.sessions.create_async(params=session_params(),
                                                 options={"idempotency_key": idempotency_key})
        for _ in range(8)))

    assert len({session.id for session in results}) == 1
    assert sum(1 for session in results if session.last_response.headers.get("Idempotent-Replayed")) == 7


async def test_parameter_errors_are_not_stored(client: stripe.StripeClient) -> None:
    idempotency_key = key()
    broken = session_params()
    del broken["success_url"]
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.checkout.sessions.create_async(
            params=broken, options={"idempotency_key": idempotency_key})

    # A request that never started executing leaves the key free for the corrected request.
    fixed = await client.v1.checkout.sessions.create_async(
        params=session_params(), options={"idempotency_key": idempotency_key})
    assert fixed.status == "open"


async def test_keys_are_scoped_per_secret_key_and_kept_24_hours(client: stripe.StripeClient,
                                                                sandbox: RunningSandbox) -> None:
    idempotency_key = key()
    first = await client.v1.checkout.sessions.create_async(
        params=session_params(), options={"idempotency_key": idempotency_key})

    sandbox.clock.advance(24 * 3600 + 1)
    later = await client.v1.checkout.sessions.create_async(
        params=session_params(amount=5), options={"idempotency_key": idempotency_key})
    assert later.id != first.id


async def test_business_refusals_are_replayed(client: stripe.StripeClient, sandbox: RunningSandbox,
                                              browser: httpx.AsyncClient) -> None:
    session = await paid_session(client, browser, sandbox, amount=10000)
    idempotency_key = key()
    params = {"payment_intent": session.payment_intent, "amount": 20000}

    for replayed in (None, "true"):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            await client.v1.refunds.create_async(params=params,
                                                 options={"idempotency_key": idempotency_key})
        assert caught.value.code == "amount_too_large"
        assert caught.value.headers.get("Idempotent-Replayed") == replayed


async def test_get_requests_ignore_idempotency_keys(sandbox: RunningSandbox, client: stripe.StripeClient) -> None:
    headers = {"Authorization": f"Bearer {SECRET_KEY}", "Idempotency-Key": key()}
    async with httpx.AsyncClient(headers=headers) as http:
        first = await http.get(f"{sandbox.api_base}/v1/events")
        second = await http.get(f"{sandbox.api_base}/v1/events", params={"limit": 3})
    assert first.status_code == second.status_code == 200
    assert "idempotent-replayed" not in second.headers
