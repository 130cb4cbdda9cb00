"""Webhook signatures exactly as Stripe makes them.

`Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed by the
endpoint's signing secret>`. The body is signed as the exact bytes that are sent, so the
receiver must verify the raw request body, never a re-serialised one.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_SCHEME = "v1"


def compute_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of `"{timestamp}.{payload}"` keyed by `secret`."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header value for `payload` sent at `timestamp` (unix seconds).

    Pure, so tests can craft stale (old `timestamp`) or tampered (signature of other bytes)
    headers as well as valid ones.
    """
    return f"t={timestamp},{SIGNATURE_SCHEME}={compute_signature(payload, secret, timestamp)}"
