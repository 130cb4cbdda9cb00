"""The hosted test checkout page: what it shows, and each outcome as Stripe would play it."""

from __future__ import annotations

import httpx
import pytest
import stripe

from tests.payments.sandbox.support import RunningSandbox, paid_session, pay, session_params


async def event_types(client: stripe.StripeClient) -> list[str]:
    events = await client.v1.events.list_async(params={"limit": 100})
    return [event.type for event in events.data]


@pytest.mark.parametrize(("currency", "amount", "shown"),
                         [("sar", 123450, "1,234.50 SAR"), ("jpy", 15000, "15,000 JPY"), ("kwd", 12345, "12.345 KWD")])
async def test_page_shows_amount_with_the_currency_exponent(client: stripe.StripeClient, sandbox: RunningSandbox,
                                                            browser: httpx.AsyncClient, currency: str, amount: int,
                                                            shown: str) -> None:
    session = await client.v1.checkout.sessions.create_async(
        params=session_params(amount=amount, currency=currency))

    page = await browser.get(session.url)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f"Pay {shown}" in page.text
    assert "ABC123" in page.text  # the booking reference
    assert 'name="outcome" value="declined"' in page.text
    assert 'name="outcome" value="async_succeeded"' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_page_escapes_what_the_merchant_sent(client: stripe.StripeClient, browser: httpx.AsyncClient) -> None:
    session = await client.v1.checkout.sessions.create_async(
        params=session_params(metadata={"bookingReference": "<script>alert(1)</script>"}))

    page = await browser.get(session.url)

    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_pay_completes_the_session_and_redirects_to_success(client: stripe.StripeClient,
                                                                 sandbox: RunningSandbox,
                                                                 browser: httpx.AsyncClient) -> None:
    session = await client.v1.checkout.sessions.create_async(params=session_params())

    response = await pay(browser, sandbox, session.id)

    assert response.status_code == 303
    assert response.headers["location"] == f"https://app.example/bookings/ABC123/paid?session={session.id}"
    paid = await client.v1.checkout.sessions.retrieve_async(
        session.id, params={"expand": ["payment_intent.latest_charge"]})
    assert (paid.status, paid.payment_status, paid.url) == ("complete", "paid", None)
    assert paid.customer_details.email == "passenger@example.com"
    intent = paid.payment_intent
    assert intent.id.startswith("pi_")
    assert (intent.status, intent.amount, intent.amount_received, intent.currency) == ("succeeded", 123450, 123450,
                                                                                       "sar")
    assert intent.metadata.to_dict() == {"bookingId": "7d0f6f7e-1111-4c4c-8888-000000000001"}
    charge = intent.latest_charge
    assert charge.id.startswith("ch_")
    assert (charge.status, charge.paid, charge.captured, charge.amount_captured) == ("succeeded", True, True, 123450)
    assert (charge.amount_refunded, charge.refunded, charge.disputed) == (0, False, False)
    assert charge.payment_intent == intent.id

    assert await event_types(client) == ["checkout.session.completed", "payment_intent.succeeded", "charge.succeeded"]


async def test_decline_keeps_the_session_open_for_a_retry(client: stripe.StripeClient, sandbox: RunningSandbox,
                                                          browser: httpx.AsyncClient) -> None:
    session = await client.v1.checkout.sessions.create_async(params=session_params())

    declined = await pay(browser, sandbox, session.id, "declined")

    assert declined.status_code == 303
    assert declined.headers["location"] == "https://app.example/bookings/ABC123/cancelled"
    after = await client.v1.checkout.sessions.retrieve_async(session.id, params={"expand": ["payment_intent"]})
    assert (after.status, after.payment_status) == ("open", "unpaid")
    assert after.payment_intent.status == "requires_payment_method"
    assert after.payment_intent.last_payment_error.code == "card_declined"
    assert await event_types(client) == ["payment_intent.payment_failed", "charge.failed"]

    retried = await pay(browser, sandbox, session.id, "succeeded")

    assert retried.status_code == 303
    final = await client.v1.checkout.sessions.retrieve_async(session.id, params={"expand": ["payment_intent"]})
    assert (final.status, final.payment_status) == ("complete", "paid")
    assert final.payment_intent.id == after.payment_intent.id  # the same intent, now succeeded
    assert final.payment_intent.status == "succeeded"


async def test_decline_without_cancel_url_stays_on_the_page(client: stripe.StripeClient, sandbox: RunningSandbox,
                                                            browser: httpx.AsyncClient) -> None:
    params = session_params()
    del params["cancel_url"]
    session = await client.v1.checkout.sessions.create_async(params=params)

    response = await pay(browser, sandbox, session.id, "declined")

    assert response.status_code == 402
    assert "Your card was declined." in response.text


async def test_async_success_completes_unpaid_then_settles(client: stripe.StripeClient, sandbox: RunningSandbox,
                                                           browser: httpx.AsyncClient) -> None:
    session = await client.v1.checkout.sessions.create_async(params=session_params())

    response = await pay(browser, sandbox, session.id, "async_succeeded")

    assert response.status_code == 303
    assert response.headers["location"].startswith("https://app.example/bookings/ABC123/paid")
    events = (await client.v1.events.list_async()).data
    assert [event.type for event in events] == [
        "checkout.session.async_payment_succeeded", "payment_intent.succeeded", "charge.succeeded",
        "checkout.session.completed"]
    completed = events[-1].data.object
    assert (completed.status, completed.payment_status) == ("complete", "unpaid")
    assert events[0].data.object.payment_status == "paid"
    final = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert final.payment_status == "paid"


async def test_async_failure_completes_unpaid_then_fails(client: stripe.StripeClient, sandbox: RunningSandbox,
                                                         browser: httpx.AsyncClient) -> None:
    session = await client.v1.checkout.sessions.create_async(params=session_params())

    response = await pay(browser, sandbox, session.id, "async_failed")

    assert response.status_code == 303
    assert await event_types(client) == [
        "checkout.session.async_payment_failed", "payment_intent.payment_failed", "charge.failed",
        "checkout.session.completed"]
    final = await client.v1.checkout.sessions.retrieve_async(session.id, params={"expand": ["payment_intent"]})
    assert (final.status, final.payment_status) == ("complete", "unpaid")
    assert final.payment_intent.status == "requires_payment_method"


async def test_completing_twice_or_unknown_shows_an_error_page(client: stripe.StripeClient,
                                                               sandbox: RunningSandbox,
                                                               browser: httpx.AsyncClient) -> None:
    session = await paid_session(client, browser, sandbox)

    again = await pay(browser, sandbox, session.id)
    assert again.status_code == 409
    assert "already complete" in again.text
    assert (await browser.get(sandbox.checkout_url(session.id))).status_code == 409
    assert (await pay(browser, sandbox, "cs_test_nothing")).status_code == 404
    assert (await browser.get(sandbox.checkout_url("cs_test_nothing"))).status_code == 404
    bad = await browser.post(sandbox.checkout_url(session.id), data={"outcome": "maybe"})
    assert bad.status_code == 400
    assert len([t for t in await event_types(client) if t == "checkout.session.completed"]) == 1
