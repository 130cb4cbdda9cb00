"""Stripe object shapes: what the API returns and events carry, field for field.

Only the fields a Checkout payment flow touches carry meaning; the rest hold Stripe's
defaults so that code reading them (and the SDK's typed objects) sees what Stripe sends.
"""

from __future__ import annotations

import secrets
from typing import Any

from ais.payments.sandbox.ids import new_id

JsonObject = dict[str, Any]

STATEMENT_DESCRIPTOR = "AIS SANDBOX"
CARD_LAST4 = {"succeeded": "4242", "declined": "0002"}
DECLINE_MESSAGE = "Your card was declined."


def checkout_session(
    *, session_id: str, created: int, url: str, amount_total: int, currency: str, metadata: dict[str, str],
    success_url: str, cancel_url: str | None, expires_at: int, client_reference_id: str | None,
    customer_email: str | None, payment_method_types: list[str], locale: str | None, submit_type: str | None,
    billing_address_collection: str | None, customer_creation: str | None,
) -> JsonObject:
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": billing_address_collection,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "custom_fields": [],
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                        "terms_of_service_acceptance": None},
        "customer": None,
        "customer_creation": customer_creation or "if_required",
        "customer_details": None,
        "customer_email": customer_email,
        "discounts": [],
        "expires_at": expires_at,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": locale,
        "metadata": metadata,
        "mode": "payment",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_types": payment_method_types,
        "payment_status": "unpaid",
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": submit_type,
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": url,
    }


def line_item(*, name: str, currency: str, unit_amount: int, quantity: int, created: int) -> JsonObject:
    total = unit_amount * quantity
    return {
        "id": new_id("line_item"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": total,
        "amount_tax": 0,
        "amount_total": total,
        "currency": currency,
        "description": name,
        "price": {
            "id": new_id("price"), "object": "price", "active": False, "billing_scheme": "per_unit",
            "created": created, "currency": currency, "livemode": False, "lookup_key": None, "metadata": {},
            "nickname": None, "product": new_id("product"), "recurring": None, "tax_behavior": "unspecified",
            "type": "one_time", "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount),
        },
        "quantity": quantity,
    }


def payment_intent(*, created: int, amount: int, currency: str, metadata: dict[str, str], description: str | None,
                   receipt_email: str | None, payment_method_types: list[str],
                   statement_descriptor: str | None, statement_descriptor_suffix: str | None) -> JsonObject:
    intent_id = new_id("payment_intent")
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{intent_id}_secret_{secrets.token_urlsafe(18)}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": None,
        "description": description,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": payment_method_types,
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": statement_descriptor,
        "statement_descriptor_suffix": statement_descriptor_suffix,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def card_details(last4: str, amount: int) -> JsonObject:
    return {
        "type": "card",
        "card": {
            "amount_authorized": amount, "brand": "visa",
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US", "exp_month": 12, "exp_year": 2034, "fingerprint": "sandboxCardFp" + last4,
            "funding": "credit", "installments": None, "last4": last4, "network": "visa",
            "network_token": {"used": False}, "three_d_secure": None, "wallet": None,
        },
    }


def bank_debit_details() -> JsonObject:
    """An asynchronous payment method: the charge stays pending until the bank settles."""
    return {
        "type": "us_bank_account",
        "us_bank_account": {"account_holder_type": "individual", "account_type": "checking",
                            "bank_name": "STRIPE TEST BANK", "fingerprint": "sandboxBankFp", "last4": "6789",
                            "routing_number": "110000000"},
    }


APPROVED = {"network_status": "approved_by_network", "reason": None, "risk_level": "normal", "risk_score": 21,
            "seller_message": "Payment complete.", "type": "authorized"}
DECLINED = {"network_status": "declined_by_network", "reason": "generic_decline", "risk_level": "normal",
            "risk_score": 47, "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined"}


def charge(*, created: int, intent: JsonObject, payment_method: str, method_details: JsonObject,
           billing_email: str | None) -> JsonObject:
    """A new charge for `intent`, still `pending`; the caller settles it."""
    return {
        "id": new_id("charge"),
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"],
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": {"address": {"city": None, "country": None, "line1": None, "line2": None,
                                        "postal_code": None, "state": None},
                            "email": billing_email, "name": None, "phone": None, "tax_id": None},
        "calculated_statement_descriptor": intent["statement_descriptor"] or STATEMENT_DESCRIPTOR,
        "captured": True,
        "created": created,
        "currency": intent["currency"],
        "customer": None,
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": None,
        "paid": False,
        "payment_intent": intent["id"],
        "payment_method": payment_method,
        "payment_method_details": method_details,
        "receipt_email": intent["receipt_email"],
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": intent["statement_descriptor"],
        "statement_descriptor_suffix": intent["statement_descriptor_suffix"],
        "status": "pending",
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(*, created: int, charge_body: JsonObject, amount: int, reason: str | None,
           metadata: dict[str, str]) -> JsonObject:
    return {
        "id": new_id("refund"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge_body["id"],
        "created": created,
        "currency": charge_body["currency"],
        "destination_details": None,
        "metadata": metadata,
        "payment_intent": charge_body["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def dispute(*, created: int, charge_body: JsonObject, reason: str, due_by: int) -> JsonObject:
    return {
        "id": new_id("dispute"),
        "object": "dispute",
        "amount": charge_body["amount"],
        "balance_transactions": [],
        "charge": charge_body["id"],
        "created": created,
        "currency": charge_body["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {"customer_email_address": charge_body["billing_details"]["email"],
                     "product_description": None, "uncategorized_text": None},
        "evidence_details": {"due_by": due_by, "enhanced_eligibility": {}, "has_evidence": False,
                             "past_due": False, "submission_count": 0},
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge_body["payment_intent"],
        "payment_method_details": {"type": "card", "card": {"brand": "visa", "case_type": "chargeback",
                                                            "network_reason_code": "10.4"}},
        "reason": reason,
        "status": "needs_response",
    }


def event(*, event_id: str, api_version: str, created: int, event_type: str, data_object: JsonObject,
          previous_attributes: JsonObject | None, pending_webhooks: int, request_id: str | None,
          idempotency_key: str | None) -> JsonObject:
    data: JsonObject = {"object": data_object}
    if previous_attributes:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id,
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }


def list_object(data: list[JsonObject], *, has_more: bool, url: str) -> JsonObject:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
