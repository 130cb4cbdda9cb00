"""Faults injected into our own code at the worst moments (after the ledger insert, before the
commit; after the provider acted, before we recorded it). The live server runs in a thread of
this process, so monkeypatching our modules reaches it. Stripe is never mocked: the sandbox
does what Stripe would."""

from __future__ import annotations

from typing import Any

import pytest

from ais.payments import refund_flow, settlement, webhooks
from ais.payments.gateway import ProviderUnavailable
from ais.payments.refund_flow import retry_pending_refunds
from ais.payments.stripe_gateway import StripeGateway
from tests.factories import book, new_flight
from tests.fixtures.payment_flow import booking_events, complete_checkout, deliver, open_checkout, paid_booking
from tests.payments.support import (
    admin_refund,
    admin_user,
    assert_error,
    audit_actions,
    cancel,
    entries,
    get_booking,
    ledger_of,
    passenger_user,
    payment_intent_of,
    refunds_at_provider,
    seats_left,
    session_id_of,
    stored_event,
    transitions,
)


class InjectedCrash(RuntimeError):
    pass


def crash_after(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Replace `module.name` by: run the real thing, then raise. Returns a call counter."""
    real = getattr(module, name)
    calls: list[int] = []

    async def crashing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        await real(*args, **kwargs)
        raise InjectedCrash(f"injected after {name}")

    monkeypatch.setattr(module, name, crashing)
    return calls


async def unprocessed_ids(http, admin) -> set[str]:  # type: ignore[no-untyped-def]
    response = await http.get("/api/v1/admin/provider-events", params={"processed": "false", "limit": 100},
                              headers=admin.headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def failed_capture(http, live, sdk, runtime, monkeypatch):  # type: ignore[no-untyped-def]
    """A paid booking whose `payment_intent.succeeded` crashed after the ledger insert."""
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_seats=5)
    booking = (await book(http, user, flight, count=2)).json()
    await complete_checkout(http, (await open_checkout(http, user, booking["id"]))["checkoutUrl"])
    [event] = await booking_events(sdk, booking["id"], types=("payment_intent.succeeded",))
    calls = crash_after(monkeypatch, settlement, "record_capture")

    response = await deliver(http, live, event)

    assert calls, "the fault was not reached"
    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert body["retryable"] is True
    stored = await stored_event(runtime, event["id"])
    assert stored is not None and not stored.processed and stored.attempts == 1
    assert stored.last_error and "InjectedCrash" in stored.last_error
    assert (await ledger_of(http, admin, booking["id"]))["items"] == []  # the charge was rolled back
    unchanged = await get_booking(http, user, booking["id"])
    assert unchanged["status"] == "pending" and not any(p["ticketNumber"] for p in unchanged["passengers"])
    assert await seats_left(runtime, flight.economy_cabin_id) == 3
    assert event["id"] in await unprocessed_ids(http, admin)
    monkeypatch.undo()
    return admin, user, booking, event, flight


async def assert_applied_once(http, runtime, admin, user, booking, event, flight):  # type: ignore[no-untyped-def]
    confirmed = await get_booking(http, user, booking["id"])
    assert confirmed["status"] == "confirmed"
    assert transitions(confirmed)[-2:] == [("pending", "paid"), ("paid", "confirmed")]
    assert len(confirmed["statusHistory"]) == 4
    assert entries(await ledger_of(http, admin, booking["id"])) == [("charge", booking["totalAmount"])]
    stored = await stored_event(runtime, event["id"])
    assert stored is not None and stored.processed and stored.attempts == 2 and stored.last_error is None
    assert event["id"] not in await unprocessed_ids(http, admin)
    assert await seats_left(runtime, flight.economy_cabin_id) == 3


async def test_crash_before_commit_then_stripe_redelivers(http, live, sdk, runtime, monkeypatch):
    admin, user, booking, event, flight = await failed_capture(http, live, sdk, runtime, monkeypatch)

    assert (await deliver(http, live, event)).status_code == 200

    await assert_applied_once(http, runtime, admin, user, booking, event, flight)
    assert (await deliver(http, live, event)).status_code == 200  # and never again
    await assert_applied_once(http, runtime, admin, user, booking, event, flight)


async def test_crash_before_commit_then_admin_replays(http, live, sdk, runtime, monkeypatch):
    admin, user, booking, event, flight = await failed_capture(http, live, sdk, runtime, monkeypatch)

    replayed = await http.post(f"/api/v1/admin/provider-events/{event['id']}/replay", headers=admin.headers)

    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["processed"] is True and replayed.json()["attempts"] == 2
    await assert_applied_once(http, runtime, admin, user, booking, event, flight)
    again = await http.post(f"/api/v1/admin/provider-events/{event['id']}/replay", headers=admin.headers)
    assert again.status_code == 200 and again.json()["attempts"] == 2  # a processed event is left alone
    await assert_applied_once(http, runtime, admin, user, booking, event, flight)
    replays = (await http.get("/api/v1/admin/audit-log", params={"action": "webhook.replay",
                                                                   "resourceId": event["id"]},
                              headers=admin.headers)).json()["items"]
    assert len(replays) == 2 and all(item["actorId"] == admin.id for item in replays)


async def test_replay_needs_an_admin_and_a_known_event(http, live, runtime):
    passenger = await passenger_user(http)
    admin = await admin_user(http, runtime)
    assert_error(await http.post("/api/v1/admin/provider-events/evt_nope/replay", headers=passenger.headers),
                 403, "FORBIDDEN")
    assert_error(await http.get("/api/v1/admin/provider-events", headers=passenger.headers), 403, "FORBIDDEN")
    assert_error(await http.post("/api/v1/admin/provider-events/evt_nope/replay", headers=admin.headers),
                 404, "NOT_FOUND")


async def test_crash_in_the_refund_handler_rolls_back_the_refund_entry(http, live, sdk, runtime, monkeypatch):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    booking = await paid_booking(http, live, sdk, runtime, user, await new_flight(runtime))
    assert (await cancel(http, user, booking["id"])).status_code == 200
    [refunded] = await booking_events(sdk, booking["id"], types=("charge.refunded",))
    crash_after(monkeypatch, settlement, "record_refunds")
    assert_error(await deliver(http, live, refunded), 500, "INTERNAL_ERROR")
    assert [e[0] for e in entries(await ledger_of(http, admin, booking["id"]))] == ["charge"]
    assert (await get_booking(http, user, booking["id"]))["status"] == "cancelled"
    monkeypatch.undo()
    assert (await deliver(http, live, refunded)).status_code == 200
    assert (await deliver(http, live, refunded)).status_code == 200
    ledger = await ledger_of(http, admin, booking["id"])
    assert entries(ledger) == [("charge", booking["totalAmount"]), ("refund", booking["totalAmount"])]
    assert ledger["totals"]["net"] == "0.00"
    assert (await get_booking(http, user, booking["id"]))["status"] == "refunded"


async def test_answer_lost_after_commit_is_redelivered_without_effect(http, live, sdk, runtime, monkeypatch):
    """The transaction committed, then the process failed before answering: Stripe sees a 500
    and delivers again; the second delivery finds the event processed."""
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    booking = (await book(http, user, await new_flight(runtime))).json()
    await complete_checkout(http, (await open_checkout(http, user, booking["id"]))["checkoutUrl"])
    [event] = await booking_events(sdk, booking["id"], types=("checkout.session.completed",))
    crash_after(monkeypatch, webhooks, "process_event")  # processed and committed, then the answer is lost
    assert (await deliver(http, live, event)).status_code == 500
    monkeypatch.undo()
    assert (await deliver(http, live, event)).status_code == 200
    stored = await stored_event(runtime, event["id"])
    assert stored is not None and stored.processed and stored.attempts == 1
    assert entries(await ledger_of(http, admin, booking["id"])) == [("charge", booking["totalAmount"])]
    assert len((await get_booking(http, user, booking["id"]))["statusHistory"]) == 4


async def test_provider_refunded_but_the_answer_was_lost(http, live, sdk, runtime, live_runtime, monkeypatch):
    """The refund call reached Stripe, which refunded, but the answer never came back (timeout).
    The refund stays pending on our side; the retry job asks again with the same idempotency
    key and gets the same refund: exactly one refund at the provider."""
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_seats=3)
    booking = await paid_booking(http, live, sdk, runtime, user, flight)
    intent = await payment_intent_of(sdk, await session_id_of(sdk, booking["id"]))
    real = StripeGateway.create_refund

    async def answer_lost(self: StripeGateway, **kwargs: Any) -> Any:
        await real(self, **kwargs)
        raise ProviderUnavailable("APIConnectionError: read timeout (injected)")

    monkeypatch.setattr(StripeGateway, "create_refund", answer_lost)
    response = await cancel(http, user, booking["id"])
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert await seats_left(runtime, flight.economy_cabin_id) == 3
    assert len(await refunds_at_provider(sdk, intent["id"])) == 1
    monkeypatch.undo()

    await retry_pending_refunds(live_runtime)
    await retry_pending_refunds(live_runtime)

    refunds = await refunds_at_provider(sdk, intent["id"])
    assert len(refunds) == 1 and refunds[0]["amount"] == intent["amount"]
    for event in await booking_events(sdk, booking["id"], types=("charge.refunded",)):
        assert (await deliver(http, live, event)).status_code == 200
    assert (await get_booking(http, user, booking["id"]))["status"] == "refunded"
    assert (await ledger_of(http, admin, booking["id"]))["totals"]["net"] == "0.00"
    assert "booking.cancel" in await audit_actions(http, admin, booking["id"])



async def test_admin_refund_retried_after_a_crash_past_its_commit_refunds_once(http, live, sdk, runtime,
                                                                                monkeypatch):
    """The refund was recorded and asked of the provider, then the request died before it could
    store its answer (500). The admin retries with the same Idempotency-Key: that is the same
    refund, not a second one."""
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    booking = await paid_booking(http, live, sdk, runtime, user,
                                 await new_flight(runtime, economy_fare_minor=100000))
    intent = await payment_intent_of(sdk, await session_id_of(sdk, booking["id"]))
    crash_after(monkeypatch, refund_flow, "submit_refund")
    key = "refund-goodwill-1"
    crashed = await admin_refund(http, admin, booking["id"], amount="150.00", reason="goodwill", key=key)
    assert crashed.status_code == 500
    monkeypatch.undo()

    retried = await admin_refund(http, admin, booking["id"], amount="150.00", reason="goodwill", key=key)

    assert retried.status_code == 201, retried.text
    assert retried.json()["amount"] == "150.00"
    again = await admin_refund(http, admin, booking["id"], amount="150.00", reason="goodwill", key=key)
    assert again.content == retried.content
    refunds = await refunds_at_provider(sdk, intent["id"])
    assert [r["amount"] for r in refunds] == [15000]
    assert retried.json()["providerRefundId"] == refunds[0]["id"]
    for event in await booking_events(sdk, booking["id"], types=("charge.refunded",)):
        assert (await deliver(http, live, event)).status_code == 200
    assert (await ledger_of(http, admin, booking["id"]))["totals"]["net"] == "850.00"
    assert (await audit_actions(http, admin, booking["id"])).count("refund.requested") == 1


async def test_cancel_that_died_before_asking_the_provider_is_refunded_by_the_job(
        http, live, sdk, runtime, live_runtime, monkeypatch):
    """The cancel committed (booking cancelled, refund recorded) and the process died before it
    asked Stripe. Nobody retries the request: the periodic job asks, exactly once. (Asking is an
    after-commit hook: its failure is logged and the committed cancel is answered 200.)"""
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_seats=2)
    booking = await paid_booking(http, live, sdk, runtime, user, flight)
    intent = await payment_intent_of(sdk, await session_id_of(sdk, booking["id"]))

    async def died(*args: Any, **kwargs: Any) -> int:
        raise InjectedCrash("process died after the commit")

    monkeypatch.setattr(refund_flow, "submit_pending_refunds", died)
    assert (await cancel(http, user, booking["id"])).status_code == 200
    monkeypatch.undo()
    assert (await get_booking(http, user, booking["id"]))["status"] == "cancelled"
    assert await seats_left(runtime, flight.economy_cabin_id) == 2
    assert await refunds_at_provider(sdk, intent["id"]) == []

    await retry_pending_refunds(live_runtime)
    await retry_pending_refunds(live_runtime)

    assert [r["amount"] for r in await refunds_at_provider(sdk, intent["id"])] == [intent["amount"]]
    for event in await booking_events(sdk, booking["id"], types=("charge.refunded",)):
        assert (await deliver(http, live, event)).status_code == 200
    assert (await get_booking(http, user, booking["id"]))["status"] == "refunded"
    assert (await ledger_of(http, admin, booking["id"]))["totals"]["net"] == "0.00"
