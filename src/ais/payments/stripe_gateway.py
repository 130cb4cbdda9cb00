"""The payment gateway on the official stripe SDK's async client: the only module that imports
`stripe`. In embedded mode and tests it talks to the built-in sandbox (`STRIPE_API_BASE`),
so the code that runs in production is the code the tests run."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import stripe
from stripe import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    RateLimitError,
    SignatureVerificationError,
    StripeError,
)

from ais.config import Settings
from ais.errors import InvalidSignature
from ais.ops.metrics import PROVIDER_CALLS
from ais.payments.gateway import (
    Charge,
    CheckoutSession,
    PaymentIntent,
    ProviderEventData,
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
)

SIGNATURE_TOLERANCE_SECONDS = 300  # SPEC §5: five minutes
STRIPE_API = "https://api.stripe.com"
# A provider that is down or hangs must not hold a passenger's request (SPEC §10: `pay` answers
# 503 within 15 s however the provider hangs). Each HTTP attempt gives up after these; the SDK
# retries once (safe: every write carries an idempotency key), about 11 s in the worst case; the
# deadline bounds the whole call even against a server that trickles bytes, which a read
# timeout (per read, not per response) never catches.
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 5.0
NETWORK_RETRIES = 1
CALL_DEADLINE_SECONDS = 12.0


def api_base(settings: Settings) -> str:
    if settings.stripe_api_base:
        return settings.stripe_api_base.rstrip("/")
    if settings.is_production:
        return STRIPE_API
    return f"{settings.public_base_url.rstrip('/')}/_sandbox/stripe"


def _time(value: int | None) -> datetime:
    return datetime.fromtimestamp(int(value or 0), UTC)


def _plain(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    return obj.to_dict(recursive=True)


def _id(value: Any) -> str | None:
    """An id whether the field is a bare id or an expanded object."""
    if value is None or isinstance(value, str):
        return value
    return str(value["id"])


class StripeGateway:
    def __init__(self, settings: Settings) -> None:
        assert settings.stripe_secret_key and settings.stripe_webhook_secret
        self._http = stripe.HTTPXClient(timeout=httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS))
        self._client = stripe.StripeClient(
            api_key=settings.stripe_secret_key,
            base_addresses={"api": api_base(settings)},
            http_client=self._http,
            max_network_retries=NETWORK_RETRIES,  # the SDK retries with the same idempotency key
        )
        self._webhook_secret = settings.stripe_webhook_secret

    async def close(self) -> None:
        await self._http.close_async()

    async def _call(self, operation: str, coroutine: Any) -> dict[str, Any]:
        started = time.perf_counter()
        outcome = "unavailable"
        try:
            async with asyncio.timeout(CALL_DEADLINE_SECONDS):
                body = _plain(await coroutine)
            outcome = "ok"
            return body
        except TimeoutError as exc:
            raise ProviderUnavailable(f"no answer within {CALL_DEADLINE_SECONDS:g} s") from exc
        except (APIConnectionError, RateLimitError, APIError, AuthenticationError) as exc:
            raise ProviderUnavailable(f"{type(exc).__name__}: {exc.user_message or exc}") from exc
        except StripeError as exc:
            outcome = "rejected"
            raise ProviderRejected(str(exc.user_message or exc), code=exc.code) from exc
        finally:
            PROVIDER_CALLS.labels(operation, outcome).observe(time.perf_counter() - started)

    async def create_checkout_session(
        self, *, booking_id: str, payment_id: str, reference: str, amount_minor: int, currency: str,
        description: str, customer_email: str, success_url: str, cancel_url: str, expires_at: datetime,
        idempotency_key: str,
    ) -> CheckoutSession:
        metadata = {"bookingId": booking_id, "paymentId": payment_id, "reference": reference}
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [{
                "quantity": 1,
                "price_data": {"currency": currency.lower(), "unit_amount": amount_minor,
                               "product_data": {"name": description}},
            }],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "client_reference_id": booking_id,
            "customer_email": customer_email,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "expires_at": int(expires_at.timestamp()),
        }
        body = await self._call("checkout_session_create", self._client.v1.checkout.sessions.create_async(
            params=params, options={"idempotency_key": idempotency_key}))  # type: ignore[arg-type]
        return _session(body)

    async def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        return _session(await self._call("checkout_session_retrieve",
                                         self._client.v1.checkout.sessions.retrieve_async(session_id)))

    async def expire_checkout_session(self, session_id: str) -> None:
        await self._call("checkout_session_expire", self._client.v1.checkout.sessions.expire_async(session_id))

    async def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntent:
        body = await self._call("payment_intent_retrieve",
                                self._client.v1.payment_intents.retrieve_async(payment_intent_id))
        return payment_intent_from(body)

    async def retrieve_charge(self, charge_id: str) -> Charge:
        return charge_from(await self._call("charge_retrieve", self._client.v1.charges.retrieve_async(charge_id)))

    async def create_refund(self, *, payment_intent_id: str, amount_minor: int, reason: str,
                            idempotency_key: str, metadata: dict[str, str]) -> ProviderRefund:
        params: dict[str, Any] = {"payment_intent": payment_intent_id, "amount": amount_minor,
                                  "reason": "requested_by_customer", "metadata": {**metadata, "note": reason[:450]}}
        body = await self._call("refund_create", self._client.v1.refunds.create_async(
            params=params, options={"idempotency_key": idempotency_key}))  # type: ignore[arg-type]
        return refund_from(body)

    async def list_refunds(self, *, payment_intent_id: str) -> list[ProviderRefund]:
        body = await self._call("refund_list", self._client.v1.refunds.list_async(
            params={"payment_intent": payment_intent_id, "limit": 100}))
        return [refund_from(item) for item in body.get("data", [])]

    def verify_event(self, payload: bytes, signature_header: str | None) -> ProviderEventData:
        """Stripe's own check (HMAC-SHA256 over "t.payload", 5-minute tolerance)."""
        if not signature_header:
            raise InvalidSignature("missing Stripe-Signature header")
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature_header, self._webhook_secret, tolerance=SIGNATURE_TOLERANCE_SECONDS)
        except SignatureVerificationError as exc:
            raise InvalidSignature(str(exc)) from exc
        try:
            raw = json.loads(payload)
            return ProviderEventData(id=str(raw["id"]), type=str(raw["type"]), created=int(raw.get("created", 0)),
                                     data_object=dict(raw["data"]["object"]), raw=raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidSignature("signed payload is not a Stripe event") from exc


def _session(body: dict[str, Any]) -> CheckoutSession:
    return CheckoutSession(
        id=body["id"], url=body.get("url"), status=body.get("status") or "open",
        payment_status=body.get("payment_status") or "unpaid",
        payment_intent_id=_id(body.get("payment_intent")), amount_total=int(body.get("amount_total") or 0),
        currency=str(body.get("currency") or "").upper(), expires_at=_time(body.get("expires_at")),
        metadata=dict(body.get("metadata") or {}),
    )


def payment_intent_from(body: dict[str, Any]) -> PaymentIntent:
    return PaymentIntent(
        id=body["id"], status=body.get("status") or "", amount=int(body.get("amount") or 0),
        amount_received=int(body.get("amount_received") or 0), currency=str(body.get("currency") or "").upper(),
        latest_charge_id=_id(body.get("latest_charge")), metadata=dict(body.get("metadata") or {}),
    )


def charge_from(body: dict[str, Any]) -> Charge:
    return Charge(
        id=body["id"], payment_intent_id=_id(body.get("payment_intent")), amount=int(body.get("amount") or 0),
        amount_captured=int(body.get("amount_captured") or 0), amount_refunded=int(body.get("amount_refunded") or 0),
        currency=str(body.get("currency") or "").upper(), status=body.get("status") or "",
        disputed=bool(body.get("disputed")),
    )


def refund_from(body: dict[str, Any]) -> ProviderRefund:
    return ProviderRefund(
        id=body["id"], charge_id=_id(body.get("charge")), payment_intent_id=_id(body.get("payment_intent")),
        amount=int(body.get("amount") or 0), currency=str(body.get("currency") or "").upper(),
        status=body.get("status") or "", metadata=dict(body.get("metadata") or {}),
    )
