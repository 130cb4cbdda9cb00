"""What the booking side needs from a payment provider, in the provider's own terms
(minor units, lower-case ISO currency). `stripe_gateway.py` implements it with the stripe SDK."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class ProviderUnavailable(Exception):
    """The provider could not be reached or failed; the caller may retry (same idempotency key)."""


class ProviderRejected(Exception):
    """The provider refused the request (bad parameters, nothing left to refund …)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None
    status: str  # open | complete | expired
    payment_status: str  # paid | unpaid | no_payment_required
    payment_intent_id: str | None
    amount_total: int
    currency: str
    expires_at: datetime
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentIntent:
    id: str
    status: str  # succeeded | processing | requires_payment_method | canceled …
    amount: int
    amount_received: int
    currency: str
    latest_charge_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Charge:
    id: str
    payment_intent_id: str | None
    amount: int
    amount_captured: int
    amount_refunded: int
    currency: str
    status: str
    disputed: bool


@dataclass(frozen=True)
class ProviderRefund:
    id: str
    charge_id: str | None
    payment_intent_id: str | None
    amount: int
    currency: str
    status: str  # succeeded | pending | failed | canceled
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderEventData:
    id: str
    type: str
    created: int
    data_object: dict[str, Any]
    raw: dict[str, Any]


class PaymentGateway(Protocol):
    async def create_checkout_session(
        self, *, booking_id: str, payment_id: str, reference: str, amount_minor: int, currency: str,
        description: str, customer_email: str, success_url: str, cancel_url: str, expires_at: datetime,
        idempotency_key: str,
    ) -> CheckoutSession: ...

    async def retrieve_checkout_session(self, session_id: str) -> CheckoutSession: ...

    async def expire_checkout_session(self, session_id: str) -> None: ...

    async def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntent: ...

    async def retrieve_charge(self, charge_id: str) -> Charge: ...

    async def create_refund(self, *, payment_intent_id: str, amount_minor: int, reason: str,
                            idempotency_key: str, metadata: dict[str, str]) -> ProviderRefund: ...

    async def list_refunds(self, *, payment_intent_id: str) -> list[ProviderRefund]: ...

    def verify_event(self, payload: bytes, signature_header: str | None) -> ProviderEventData: ...

    async def close(self) -> None: ...
