"""Delivery of events to the webhook endpoint: signed, retried with back-off, recorded, and
resumed after a restart; or, with delivery off, only recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import stripe

from ais.payments.sandbox import DeliveryPolicy
from tests.payments.sandbox.serving import unused_url
from tests.payments.sandbox.support import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    Receiver,
    RunningSandbox,
    eventually,
    paid_session,
)

PAID_EVENTS = {"charge.succeeded", "payment_intent.succeeded", "checkout.session.completed"}


async def deliveries_of(running: RunningSandbox, event_id: str) -> dict:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {SECRET_KEY}"}) as http:
        response = await http.get(f"{running.base_url}/_sandbox/events/{event_id}/deliveries")
    assert response.status_code == 200, response.text
    return response.json()


def delivered_types(receiver: Receiver) -> list[str]:
    return [stripe.Webhook.construct_event(body, headers["stripe-signature"], WEBHOOK_SECRET).type
            for body, headers in receiver.received]


async def test_events_are_signed_delivered_and_retried(start_sandbox: Callable[..., RunningSandbox],
                                                       start_receiver: Callable[..., Receiver],
                                                       make_client: Callable[..., stripe.StripeClient],
                                                       browser: httpx.AsyncClient) -> None:
    receiver = start_receiver(statuses=[500])  # the first delivery fails, the rest succeed
    running = start_sandbox(delivery="on", webhook_url=receiver.url)
    client = make_client(running)

    await paid_session(client, browser, running)

    await eventually(lambda: set(delivered_types(receiver)) == PAID_EVENTS and len(receiver.received) == 4)
    body, headers = receiver.received[0]
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["user-agent"].startswith("Stripe/1.0")
    event = stripe.Webhook.construct_event(body, headers["stripe-signature"], WEBHOOK_SECRET)
    assert event.pending_webhooks == 1

    view = await deliveries_of(running, event.id)
    assert view["status"] == "succeeded"
    assert view["url"] == receiver.url
    assert [(a["attempt"], a["status_code"]) for a in view["attempt_log"]] == [(1, 500), (2, 200)]
    assert view["attempt_log"][0]["error"] == "HTTP 500"
    await eventually(lambda: _all_delivered(client))


async def _all_delivered(client: stripe.StripeClient) -> bool:
    return all(event.pending_webhooks == 0 for event in (await client.v1.events.list_async()).data)


async def test_delivery_gives_up_after_the_last_attempt(start_sandbox: Callable[..., RunningSandbox],
                                                        make_client: Callable[..., stripe.StripeClient],
                                                        browser: httpx.AsyncClient) -> None:
    running = start_sandbox(delivery="on", webhook_url=unused_url() + "/webhooks/stripe",
                            policy=DeliveryPolicy(max_attempts=3, initial_delay=0.02, max_delay=0.05, timeout=1,
                                                  poll_interval=0.05))
    client = make_client(running)
    await paid_session(client, browser, running)
    event = (await client.v1.events.list_async(params={"type": "charge.succeeded"})).data[0]

    async def failed() -> bool:
        return (await deliveries_of(running, event.id))["status"] == "failed"

    await eventually(failed)
    view = await deliveries_of(running, event.id)
    assert view["attempts"] == 3
    assert all(a["status_code"] is None and "ConnectError" in a["error"] for a in view["attempt_log"])
    assert (await client.v1.events.retrieve_async(event.id)).pending_webhooks == 0


async def test_delivery_off_only_records(start_sandbox: Callable[..., RunningSandbox],
                                         start_receiver: Callable[..., Receiver],
                                         make_client: Callable[..., stripe.StripeClient],
                                         browser: httpx.AsyncClient) -> None:
    receiver = start_receiver()
    running = start_sandbox(delivery="off", webhook_url=receiver.url)
    client = make_client(running)

    await paid_session(client, browser, running)
    await asyncio.sleep(0.3)  # several background passes

    assert receiver.received == []
    events = (await client.v1.events.list_async()).data
    assert {event.type for event in events} == PAID_EVENTS
    assert all(event.pending_webhooks == 0 for event in events)
    assert (await deliveries_of(running, events[0].id))["status"] == "disabled"


async def test_state_and_pending_deliveries_survive_a_restart(tmp_path: Path,
                                                              start_sandbox: Callable[..., RunningSandbox],
                                                              start_receiver: Callable[..., Receiver],
                                                              make_client: Callable[..., stripe.StripeClient],
                                                              browser: httpx.AsyncClient) -> None:
    database = tmp_path / "sandbox.db"
    patient = DeliveryPolicy(max_attempts=50, initial_delay=0.05, max_delay=0.1, timeout=1, poll_interval=0.05)
    before = start_sandbox(delivery="on", webhook_url=unused_url() + "/webhooks/stripe", database_path=database,
                           policy=patient)
    session = await paid_session(make_client(before), browser, before)
    before.stop()  # the process stops with its deliveries still pending

    receiver = start_receiver()
    after = start_sandbox(delivery="on", webhook_url=receiver.url, database_path=database, policy=patient)

    # A generous window: on a loaded machine the first process's last attempts and the second's
    # start-up may take seconds; what matters is that every pending delivery arrives at all.
    await eventually(lambda: set(delivered_types(receiver)) == PAID_EVENTS, within=30)
    again = await make_client(after).v1.checkout.sessions.retrieve_async(session.id)
    assert (again.status, again.payment_status) == ("complete", "paid")


async def test_workers_sharing_one_database_deliver_each_event_once(tmp_path: Path,
                                                                     start_sandbox: Callable[..., RunningSandbox],
                                                                     start_receiver: Callable[..., Receiver],
                                                                     make_client: Callable[..., stripe.StripeClient],
                                                                     browser: httpx.AsyncClient) -> None:
    receiver = start_receiver()
    database = tmp_path / "sandbox.db"
    workers = [start_sandbox(delivery="on", webhook_url=receiver.url, database_path=database) for _ in range(2)]

    for index in range(4):  # alternate between the two "processes"
        running = workers[index % 2]
        await paid_session(make_client(running), browser, running)

    await eventually(lambda: len(receiver.received) >= 12)
    await asyncio.sleep(0.3)  # time for a duplicate to show up, if there were one
    ids = [stripe.Webhook.construct_event(body, headers["stripe-signature"], WEBHOOK_SECRET).id
           for body, headers in receiver.received]
    assert len(ids) == len(set(ids)) == 12


def test_httpx_need_not_search_for_sniffio_on_every_request() -> None:
    """httpcore imports `sniffio` on each async request; missing, the failed import searches the
    whole path every time (a large share of the CPU of each webhook sent and each Stripe call)."""
    import importlib.util

    assert importlib.util.find_spec("sniffio") is not None
