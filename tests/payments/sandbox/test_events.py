"""`GET events`: Stripe's event shape, newest first, type filters and cursor pagination."""

from __future__ import annotations

import httpx
import pytest
import stripe

from ais.payments.sandbox import API_VERSION
from tests.payments.sandbox.support import RunningSandbox, paid_session


async def test_events_have_stripes_shape(client: stripe.StripeClient, sandbox: RunningSandbox,
                                         browser: httpx.AsyncClient) -> None:
    session = await paid_session(client, browser, sandbox)

    listed = await client.v1.events.list_async(params={"type": "checkout.session.completed"})

    assert listed.object == "list"
    assert listed.url == "/v1/events"
    assert listed.has_more is False
    [event] = listed.data
    assert isinstance(event, stripe.Event)
    assert event.id.startswith("evt_")
    assert event.object == "event"
    assert event.api_version == API_VERSION
    assert event.livemode is False
    assert event.pending_webhooks == 0  # delivery is off
    assert event.request.to_dict() == {"id": None, "idempotency_key": None}  # the customer acted, not the API
    assert event.data.object.id == session.id
    assert event.data.object.payment_status == "paid"
    assert event.created == session.created

    fetched = await client.v1.events.retrieve_async(event.id)
    assert fetched.to_dict() == event.to_dict()


async def test_newest_first_with_type_filters(client: stripe.StripeClient, sandbox: RunningSandbox,
                                              browser: httpx.AsyncClient) -> None:
    first = await paid_session(client, browser, sandbox)
    second = await paid_session(client, browser, sandbox)

    completed = await client.v1.events.list_async(params={"type": "checkout.session.completed"})
    assert [event.data.object.id for event in completed.data] == [second.id, first.id]

    charges = await client.v1.events.list_async(params={"type": "charge.*"})
    assert [event.type for event in charges.data] == ["charge.succeeded", "charge.succeeded"]

    several = await client.v1.events.list_async(
        params={"types": ["payment_intent.succeeded", "checkout.session.completed"]})
    assert [event.type for event in several.data] == [
        "checkout.session.completed", "payment_intent.succeeded"] * 2

    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.events.list_async(params={"type": "charge.succeeded", "types": ["charge.failed"]})


async def test_pagination_by_cursor_and_limit(client: stripe.StripeClient, sandbox: RunningSandbox,
                                              browser: httpx.AsyncClient) -> None:
    for _ in range(3):
        await paid_session(client, browser, sandbox)  # 9 events
    everything = await client.v1.events.list_async(params={"limit": 100})
    assert len(everything.data) == 9
    ids = [event.id for event in everything.data]

    page = await client.v1.events.list_async(params={"limit": 4})
    assert [event.id for event in page.data] == ids[:4]
    assert page.has_more is True
    following = await client.v1.events.list_async(params={"limit": 4, "starting_after": page.data[-1].id})
    assert [event.id for event in following.data] == ids[4:8]
    before = await client.v1.events.list_async(params={"limit": 2, "ending_before": ids[4]})
    assert [event.id for event in before.data] == ids[2:4]

    walked = [event.id async for event in page.auto_paging_iter()]
    assert walked == ids

    assert len((await client.v1.events.list_async()).data) == 9  # default limit 10
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.events.list_async(params={"limit": 101})
    assert caught.value.param == "limit"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.events.list_async(params={"starting_after": "evt_unknown"})
    assert caught.value.code == "resource_missing"
