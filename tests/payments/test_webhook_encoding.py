"""SPEC §7: a webhook body that is not UTF-8 is 400 INVALID_SIGNATURE with nothing stored — even
when it carries a correct signature over those very bytes (it used to crash the check: 500)."""

from __future__ import annotations

import time
import uuid

import pytest

from ais.payments.sandbox import sign_payload
from tests.fixtures.payment_flow import deliver
from tests.payments.support import assert_error, stored_event_count

NOT_UTF8 = {
    "latin-1 text": '{"id": "evt_caf\u00e9", "type": "customer.created"}'.encode("latin-1"),
    "utf-16": '{"id": "evt_x", "type": "customer.created"}'.encode("utf-16"),
    "raw bytes": b"\xff\xfe\x00\x80" * 16,
    "truncated utf-8": '{"id": "evt_\u0645'.encode()[:-1],
}


@pytest.mark.parametrize("name", list(NOT_UTF8))
async def test_a_signed_body_that_is_not_utf8_is_refused_and_not_stored(http, live, runtime, name):
    before = await stored_event_count(runtime)

    response = await deliver(http, live, {}, body=NOT_UTF8[name])

    body = assert_error(response, 400, "INVALID_SIGNATURE")
    assert body["retryable"] is False
    assert await stored_event_count(runtime) == before


async def test_an_unsigned_body_that_is_not_utf8_is_refused_too(http, live, runtime):
    before = await stored_event_count(runtime)
    payload = b"\xc3\x28" + uuid.uuid4().bytes
    other = sign_payload(b"{}", live.settings.stripe_webhook_secret or "", int(time.time()))
    response = await http.post("/webhooks/stripe", content=payload, headers={"Stripe-Signature": other})
    assert_error(response, 400, "INVALID_SIGNATURE")
    assert await stored_event_count(runtime) == before
