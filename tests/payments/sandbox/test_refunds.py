"""Refunds: partial and full, through the intent or the charge, never more than remains."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import stripe

from tests.payments.sandbox.support import RunningSandbox, paid_session, session_params


async def test_partial_then_full_refund(client: stripe.StripeClient, sandbox: RunningSandbox,
                                        browser: httpx.AsyncClient) -> None:
    session = await paid_session(client, browser, sandbox, amount=123450)
    intent_id = session.payment_intent

    partial = await client.v1.refunds.create_async(params={
        "payment_intent": intent_id, "amount": 23450, "reason": "requested_by_customer",
        "metadata": {"bookingId": "b-1"}})

    assert partial.id.startswith("re_")
    assert (partial.object, partial.status, partial.amount, partial.currency) == ("refund", "succeeded", 23450, "sar")
    assert partial.payment_intent == intent_id
    assert partial.metadata.to_dict() == {"bookingId": "b-1"}
    charge = await client.v1.charges.retrieve_async(partial.charge)
    assert (charge.amount_refunded, charge.refunded) == (23450, False)

    rest = await client.v1.refunds.create_async(params={"charge": charge.id})  # no amount: all that remains

    assert rest.amount == 100000
    charge = await client.v1.charges.retrieve_async(charge.id, params={"expand": ["refunds"]})
    assert (charge.amount_refunded, charge.refunded) == (123450, True)
    assert [refund.id for refund in charge.refunds.data] == [rest.id, partial.id]
    assert (await client.v1.refunds.retrieve_async(partial.id)).amount == 23450

    events = (await client.v1.events.list_async(params={"type": "charge.refunded"})).data
    assert [event.data.object.amount_refunded for event in events] == [123450, 23450]
    assert events[0].data.previous_attributes.to_dict() == {"amount_refunded": 23450, "refunded": False}
    assert events[0].request.id is not None  # caused by an API request
    created = (await client.v1.events.list_async(params={"type": "refund.created"})).data
    assert [event.data.object.id for event in created] == [rest.id, partial.id]


async def test_over_refund_is_refused(client: stripe.StripeClient, sandbox: RunningSandbox,
                                      browser: httpx.AsyncClient) -> None:
    session = await paid_session(client, browser, sandbox, amount=15000, currency="jpy")
    await client.v1.refunds.create_async(params={"payment_intent": session.payment_intent, "amount": 10000})

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async(params={"payment_intent": session.payment_intent, "amount": 5001})
    assert caught.value.http_status == 400
    assert caught.value.code == "amount_too_large"
    assert caught.value.param == "amount"
    assert "JPY 5,000" in str(caught.value.user_message)

    await client.v1.refunds.create_async(params={"payment_intent": session.payment_intent})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async(params={"payment_intent": session.payment_intent})
    assert caught.value.code == "charge_already_refunded"


async def test_concurrent_refunds_never_exceed_the_charge(client: stripe.StripeClient, sandbox: RunningSandbox,
                                                          browser: httpx.AsyncClient) -> None:
    session = await paid_session(client, browser, sandbox, amount=12345, currency="kwd")

    async def refund() -> bool:
        try:
            await client.v1.refunds.create_async(params={"payment_intent": session.payment_intent, "amount": 5000})
        except stripe.InvalidRequestError:
            return False
        return True

    results = await asyncio.gather(*(refund() for _ in range(5)))

    assert sum(results) == 2
    intent = await client.v1.payment_intents.retrieve_async(session.payment_intent,
                                                            params={"expand": ["latest_charge"]})
    assert intent.latest_charge.amount_refunded == 10000


async def test_only_successful_payments_can_be_refunded(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async(params={"payment_intent": "pi_unknown"})
    assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async(params={})
    assert caught.value.code == "parameter_missing"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async(params={"charge": "ch_x", "amount": 0})
    assert caught.value.code == "parameter_invalid_integer"
    session = await client.v1.checkout.sessions.create_async(params=session_params())
    assert session.payment_intent is None
