"""Stripe events for the webhook storm, signed exactly as Stripe signs them.

Each booking gets two distinct events that describe the same money (`checkout.session.completed`
and `payment_intent.succeeded`, as Stripe sends them), and the storm sends every event twice, so
the ledger's uniqueness and the inbox's de-duplication both work under concurrency."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import uuid

from harness.seeding import PendingPayment


def stripe_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """`Stripe-Signature`: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def payment_events(payments: list[PendingPayment]) -> list[bytes]:
    """Two events per pending payment, as the bytes that are sent."""
    events = []
    created = int(time.time())
    for payment in payments:
        metadata = {"bookingId": payment.booking_id, "paymentId": payment.payment_id}
        intent, charge = f"pi_{uuid.uuid4().hex[:24]}", f"ch_{uuid.uuid4().hex[:24]}"
        events.append({"id": f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": "checkout.session.completed",
                       "created": created, "livemode": False, "api_version": "2024-06-20",
                       "data": {"object": {"id": f"cs_test_{uuid.uuid4().hex}", "object": "checkout.session",
                                           "payment_status": "paid", "status": "complete", "payment_intent": intent,
                                           "amount_total": 45000, "currency": "sar", "metadata": metadata}}})
        events.append({"id": f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": "payment_intent.succeeded",
                       "created": created, "livemode": False, "api_version": "2024-06-20",
                       "data": {"object": {"id": intent, "object": "payment_intent", "status": "succeeded",
                                           "amount": 45000, "amount_received": 45000, "currency": "sar",
                                           "latest_charge": charge, "metadata": metadata}}})
    return [json.dumps(event).encode() for event in events]


def storm_requests(payloads: list[bytes], secret: str, seed: int = 7,
                   shuffle: bool = True) -> tuple[list[bytes], list[dict[str, str]]]:
    """Every payload twice (50% duplicates), shuffled, each with its signature made now (Stripe's
    tolerance is 5 minutes, so sign right before sending). `shuffle=False`: the payloads as given
    (already doubled and shuffled, e.g. one slice of a storm sent in rounds), only signed."""
    if shuffle:
        bodies = payloads + payloads
        random.Random(seed).shuffle(bodies)
    else:
        bodies = list(payloads)
    now = int(time.time())
    return bodies, [{"Stripe-Signature": stripe_signature(body, secret, now)} for body in bodies]
