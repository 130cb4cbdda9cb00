"""Checkout Sessions through the official SDK: creation in three currency exponents, Stripe's
parameter rules and error shapes, retrieval with expansion, expiry."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import stripe

from tests.payments.sandbox.support import SECRET_KEY, RunningSandbox, eventually, pay, session_params


@pytest.mark.parametrize(("currency", "amount"), [("sar", 123450), ("jpy", 15000), ("kwd", 12345)])
async def test_create_session_in_minor_units(client: stripe.StripeClient, sandbox: RunningSandbox, currency: str,
                                             amount: int) -> None:
    session = await client.v1.checkout.sessions.create_async(
        params=session_params(amount=amount, currency=currency.upper()))

    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.livemode is False
    assert session.amount_total == amount
    assert session.currency == currency
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.payment_intent is None
    assert session.url == sandbox.checkout_url(session.id)
    assert session.metadata.to_dict() == {"bookingId": "7d0f6f7e-1111-4c4c-8888-000000000001",
                                          "bookingReference": "ABC123"}
    assert session.client_reference_id == "ABC123"
    assert session.customer_email == "passenger@example.com"
    assert abs(session.created - time.time()) < 5
    assert session.expires_at == session.created + 24 * 3600


async def test_amount_is_the_sum_of_the_line_items(client: stripe.StripeClient) -> None:
    items = [
        {"price_data": {"currency": "sar", "unit_amount": 50000, "product_data": {"name": "Adult"}}, "quantity": 2},
        {"price_data": {"currency": "sar", "unit_amount": 25000, "product_data": {"name": "Child"}}, "quantity": 1},
    ]
    session = await client.v1.checkout.sessions.create_async(
        params=session_params(line_items=items))
    assert session.amount_total == 125000

    expanded = await client.v1.checkout.sessions.retrieve_async(session.id, params={"expand": ["line_items"]})
    assert [(item.description, item.quantity, item.amount_total) for item in expanded.line_items.data] == [
        ("Adult", 2, 100000), ("Child", 1, 25000)]


async def test_expires_at_must_be_between_30_minutes_and_24_hours(client: stripe.StripeClient,
                                                                  sandbox: RunningSandbox) -> None:
    now = int(sandbox.clock())
    ok = await client.v1.checkout.sessions.create_async(
        params=session_params(expires_at=now + 31 * 60))
    assert ok.expires_at == now + 31 * 60

    for expires_at in (now + 29 * 60, now + 24 * 3600 + 60):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            await client.v1.checkout.sessions.create_async(
                params=session_params(expires_at=expires_at))
        assert caught.value.http_status == 400
        assert caught.value.param == "expires_at"
        assert "expires_at" in str(caught.value.user_message)


@pytest.mark.parametrize(
    ("overrides", "param", "code"),
    [
        ({"line_items": None}, "line_items", "parameter_missing"),
        ({"success_url": None}, "success_url", "parameter_missing"),
        ({"success_url": "not a url"}, "success_url", "url_invalid"),
        ({"customer_email": "nobody"}, "customer_email", "email_invalid"),
        ({"mode": "subscription"}, "mode", None),
        ({"shipping_rate": "shr_1"}, "shipping_rate", "parameter_unknown"),
        ({"line_items": [{"price_data": {"currency": "sar", "unit_amount": 100, "product_data": {"name": "x"}}}]},
         "line_items[0][quantity]", "parameter_missing"),
        ({"line_items": [{"price_data": {"currency": "sar", "unit_amount": "12.5", "product_data": {"name": "x"}},
                          "quantity": 1}]},
         "line_items[0][price_data][unit_amount]", "parameter_invalid_integer"),
        ({"line_items": [{"price_data": {"currency": "zzz", "unit_amount": 100, "product_data": {"name": "x"}},
                          "quantity": 1}]},
         "line_items[0][price_data][currency]", None),
    ],
)
async def test_invalid_parameters_are_refused_like_stripe(client: stripe.StripeClient, overrides: dict[str, Any],
                                                          param: str, code: str | None) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.checkout.sessions.create_async(params=session_params(**overrides))
    error = caught.value
    assert error.http_status == 400
    assert error.param == param
    assert error.code == code
    assert error.error is not None and error.error.type == "invalid_request_error"


async def test_wrong_or_missing_key_is_401_in_stripes_shape(sandbox: RunningSandbox,
                                                            make_client: Any) -> None:
    wrong = make_client(sandbox, api_key="sk_test_wrongwrongwrongwrong")
    with pytest.raises(stripe.AuthenticationError) as caught:
        await wrong.v1.checkout.sessions.create_async(params=session_params())
    assert caught.value.http_status == 401

    async with httpx.AsyncClient() as http:
        response = await http.get(f"{sandbox.api_base}/v1/events")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "API key" in response.json()["error"]["message"]
    assert response.headers["request-id"].startswith("req_")


async def test_unknown_urls_and_objects_answer_stripes_404(sandbox: RunningSandbox,
                                                           client: stripe.StripeClient) -> None:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {SECRET_KEY}"}) as http:
        response = await http.get(f"{sandbox.api_base}/v1/customers")
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/customers)")

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.checkout.sessions.retrieve_async("cs_test_missing")
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.payment_intents.retrieve_async("pi_missing")
    assert caught.value.code == "resource_missing"


async def test_expire_an_open_session(client: stripe.StripeClient, sandbox: RunningSandbox,
                                      browser: httpx.AsyncClient) -> None:
    session = await client.v1.checkout.sessions.create_async(params=session_params())

    expired = await client.v1.checkout.sessions.expire_async(session.id)

    assert expired.status == "expired"
    assert expired.url is None
    events = await client.v1.events.list_async(params={"type": "checkout.session.expired"})
    assert [event.data.object.id for event in events.data] == [session.id]
    assert (await pay(browser, sandbox, session.id)).status_code == 410
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.checkout.sessions.expire_async(session.id)
    assert caught.value.http_status == 400


async def test_sessions_expire_on_their_own_when_their_time_passes(client: stripe.StripeClient,
                                                                   sandbox: RunningSandbox,
                                                                   browser: httpx.AsyncClient) -> None:
    now = int(sandbox.clock())
    read_late = await client.v1.checkout.sessions.create_async(
        params=session_params(expires_at=now + 1800))
    swept = await client.v1.checkout.sessions.create_async(
        params=session_params(expires_at=now + 1800))

    sandbox.clock.advance(1801)

    assert (await client.v1.checkout.sessions.retrieve_async(read_late.id)).status == "expired"

    async def swept_expired() -> bool:
        events = await client.v1.events.list_async(params={"type": "checkout.session.expired"})
        return swept.id in {event.data.object.id for event in events.data}

    await eventually(swept_expired)
    events = await client.v1.events.list_async(params={"type": "checkout.session.expired"})
    assert all(event.request.id is None for event in events.data)  # automatic, not an API request
    assert (await pay(browser, sandbox, swept.id)).status_code == 410
