"""Signatures exactly as Stripe makes them: the official SDK accepts ours and refuses
stale or tampered ones."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from ais.payments.sandbox import sign_payload
from tests.payments.sandbox.support import WEBHOOK_SECRET

PAYLOAD = json.dumps({"id": "evt_1", "object": "event", "type": "charge.succeeded",
                      "data": {"object": {"id": "ch_1", "object": "charge", "description": "رحلة الرياض"}}},
                     indent=2, ensure_ascii=False).encode()


def test_the_sdk_accepts_our_signature() -> None:
    header = sign_payload(PAYLOAD, WEBHOOK_SECRET, int(time.time()))

    event = stripe.Webhook.construct_event(PAYLOAD, header, WEBHOOK_SECRET)

    assert event.id == "evt_1"
    assert event.data.object.description == "رحلة الرياض"


def test_it_matches_the_sdks_own_signer() -> None:
    timestamp = 1_767_225_600
    expected = stripe.WebhookSignature.generate_signature_header(PAYLOAD.decode(), WEBHOOK_SECRET, timestamp)
    assert sign_payload(PAYLOAD, WEBHOOK_SECRET, timestamp) == expected


@pytest.mark.parametrize("tamper", ["stale", "body", "secret"])
def test_stale_or_tampered_signatures_are_refused(tamper: str) -> None:
    now = int(time.time())
    header = {
        "stale": sign_payload(PAYLOAD, WEBHOOK_SECRET, now - 301),
        "body": sign_payload(PAYLOAD.replace(b"ch_1", b"ch_2"), WEBHOOK_SECRET, now),
        "secret": sign_payload(PAYLOAD, "whsec_other", now),
    }[tamper]

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(PAYLOAD, header, WEBHOOK_SECRET, tolerance=300)
