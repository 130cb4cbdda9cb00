"""A Stripe-compatible payment sandbox for embedded mode and tests.

It plays the remote Stripe: a REST subset the official SDK talks to unchanged, a hosted
test checkout page, and signed webhook delivery with retries. See `create_sandbox_app`.
"""

from ais.payments.sandbox.app import create_sandbox_app, sandbox_of
from ais.payments.sandbox.config import API_VERSION, MOUNT_PATH, DeliveryPolicy, SandboxConfig
from ais.payments.sandbox.runtime import Sandbox
from ais.payments.sandbox.signing import sign_payload

__all__ = [
    "API_VERSION",
    "MOUNT_PATH",
    "DeliveryPolicy",
    "Sandbox",
    "SandboxConfig",
    "create_sandbox_app",
    "sandbox_of",
    "sign_payload",
]
