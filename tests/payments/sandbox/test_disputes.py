"""Disputes through the test helpers: opened for the charge's amount, closed won or lost."""

from __future__ import annotations

import httpx
import pytest
import stripe

from tests.payments.sandbox.support import RunningSandbox, paid_session


async def open_dispute(client: stripe.StripeClient, charge_id: str) -> stripe.Dispute:
    response = await client.raw_request_async("post", f"/v1/test_helpers/charges/{charge_id}/dispute")
    return client.deserialize(response, api_mode="V1")


async def close_dispute(client: stripe.StripeClient, dispute_id: str, status: str) -> stripe.Dispute:
    response = await client.raw_request_async("post", f"/v1/test_helpers/disputes/{dispute_id}/close",
                                               status=status)
    return client.deserialize(response, api_mode="V1")


@pytest.mark.parametrize("outcome", ["won", "lost"])
async def test_dispute_opened_then_closed(client: stripe.StripeClient, sandbox: RunningSandbox,
                                          browser: httpx.AsyncClient, outcome: str) -> None:
    session = await paid_session(client, browser, sandbox, amount=123450)
    intent = await client.v1.payment_intents.retrieve_async(session.payment_intent)

    dispute = await open_dispute(client, intent.latest_charge)

    assert isinstance(dispute, stripe.Dispute)
    assert dispute.id.startswith("du_")
    assert (dispute.status, dispute.amount, dispute.currency) == ("needs_response", 123450, "sar")
    assert (dispute.charge, dispute.payment_intent) == (intent.latest_charge, intent.id)
    charge = await client.v1.charges.retrieve_async(intent.latest_charge)
    assert charge.disputed is True
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async(params={"charge": charge.id})
    assert caught.value.code == "charge_disputed"

    closed = await close_dispute(client, dispute.id, outcome)

    assert closed.status == outcome
    assert (await client.v1.disputes.retrieve_async(dispute.id)).status == outcome
    events = (await client.v1.events.list_async(params={"type": "charge.dispute.*"})).data
    assert [(event.type, event.data.object.status) for event in events] == [
        ("charge.dispute.closed", outcome), ("charge.dispute.created", "needs_response")]
    assert events[0].data.previous_attributes.to_dict() == {"status": "needs_response"}
    with pytest.raises(stripe.InvalidRequestError):
        await close_dispute(client, dispute.id, "won")


async def test_dispute_refusals(client: stripe.StripeClient, sandbox: RunningSandbox,
                                browser: httpx.AsyncClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await open_dispute(client, "ch_unknown")
    assert caught.value.code == "resource_missing"

    session = await paid_session(client, browser, sandbox)
    intent = await client.v1.payment_intents.retrieve_async(session.payment_intent)
    dispute = await open_dispute(client, intent.latest_charge)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await open_dispute(client, intent.latest_charge)
    assert caught.value.code == "charge_disputed"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await close_dispute(client, dispute.id, "maybe")
    assert caught.value.param == "status"
