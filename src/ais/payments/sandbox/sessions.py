"""Checkout Sessions: creation (with Stripe's parameter rules), retrieval and expiry."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ais.payments.sandbox import currencies, objects, repository
from ais.payments.sandbox.errors import StripeError, missing_param, param_error, resource_missing, state_error
from ais.payments.sandbox.events import Context, emit
from ais.payments.sandbox.ids import new_id
from ais.payments.sandbox.params import Params
from ais.payments.sandbox.repository import StoredObject

JsonObject = objects.JsonObject

MIN_EXPIRY_SECONDS = 30 * 60
MAX_EXPIRY_SECONDS = 24 * 60 * 60
MAX_AMOUNT = 99_999_999  # Stripe's ceiling: eight digits in the smallest unit
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

CREATE_PARAMS = (
    "mode", "line_items", "metadata", "success_url", "cancel_url", "expires_at", "client_reference_id",
    "customer_email", "payment_intent_data", "payment_method_types", "locale", "submit_type",
    "billing_address_collection", "customer_creation", "ui_mode", "expand",
)
INTENT_DATA_PARAMS = ("metadata", "description", "receipt_email", "statement_descriptor",
                      "statement_descriptor_suffix")


async def create_session(ctx: Context, params: Params) -> JsonObject:
    """A new open, unpaid Checkout Session in payment mode; its PaymentIntent comes later,
    when the customer first tries to pay (as Stripe does since API version 2022-08-01)."""
    params.only(*CREATE_PARAMS)
    mode = params.choice("mode", ("payment", "setup", "subscription"), required=True)
    if mode != "payment":
        raise param_error("The sandbox supports only `mode=payment` Checkout Sessions.", "mode")
    if params.choice("ui_mode", ("hosted", "embedded", "custom")) not in (None, "hosted"):
        raise param_error("The sandbox supports only the hosted Checkout page (`ui_mode=hosted`).", "ui_mode")
    items, currency, amount_total = _line_items(params, ctx.now)
    success_url = _url(params, "success_url", required=True)
    if success_url is None:
        raise missing_param("success_url")
    cancel_url = _url(params, "cancel_url")
    expires_at = _expires_at(params, ctx.now)
    customer_email = _email(params, "customer_email")
    payment_method_types = params.strings("payment_method_types") or ["card"]
    intent_data = _intent_data(params.child("payment_intent_data"))
    session_id = new_id("checkout.session")
    body = objects.checkout_session(
        session_id=session_id,
        created=ctx.now,
        url=ctx.config.checkout_url(session_id),
        amount_total=amount_total,
        currency=currency,
        metadata=params.metadata(),
        success_url=success_url,
        cancel_url=cancel_url,
        expires_at=expires_at,
        client_reference_id=params.string("client_reference_id", max_length=200),
        customer_email=customer_email,
        payment_method_types=payment_method_types,
        locale=params.string("locale", max_length=10),
        submit_type=params.choice("submit_type", ("auto", "book", "donate", "pay", "subscribe")),
        billing_address_collection=params.choice("billing_address_collection", ("auto", "required")),
        customer_creation=params.choice("customer_creation", ("always", "if_required")),
    )
    stored = StoredObject(body, {"line_items": items, "payment_intent_data": intent_data})
    await repository.insert_object(ctx.conn, stored)
    return body


async def load_session(ctx: Context, session_id: str, *, param: str = "session",
                       for_update: bool = False) -> StoredObject:
    """The session, expired first if its `expires_at` has passed (Stripe expires sessions on
    its own; the background sweep does it too, this makes reads exact).

    `for_update=True` for a caller that changes the session: it stays locked until commit.
    A plain read takes the lock only when it has to expire the session."""
    stored = await repository.get_object(ctx.conn, session_id, "checkout.session", for_update=for_update)
    if stored is None:
        raise resource_missing("checkout.session", session_id, param)
    if _overdue(ctx, stored) and not for_update:
        stored = await repository.get_object(ctx.conn, session_id, "checkout.session", for_update=True)
        assert stored is not None  # sessions are never deleted
    if _overdue(ctx, stored):
        await expire(ctx, stored, automatic=True)
    return stored


def _overdue(ctx: Context, session: StoredObject) -> bool:
    return bool(session.body["status"] == "open" and session.body["expires_at"] <= ctx.now)


async def expire_session(ctx: Context, session_id: str) -> JsonObject:
    stored = await load_session(ctx, session_id, for_update=True)
    status = stored.body["status"]
    if status != "open":
        raise state_error(f"Only Checkout Sessions with a status of `open` can be expired. "
                          f"This Checkout Session has a status of `{status}`.")
    await expire(ctx, stored)
    return stored.body


async def expire(ctx: Context, session: StoredObject, *, automatic: bool = False) -> None:
    """open → expired; a PaymentIntent left by a declined attempt is canceled with it.
    The caller holds the session's lock (`load_session(..., for_update=True)`)."""
    intent_id = session.body["payment_intent"]
    if intent_id is not None:
        intent = await repository.get_object(ctx.conn, intent_id, "payment_intent")
        if intent is not None and intent.body["status"] in ("requires_payment_method", "requires_confirmation",
                                                              "requires_action"):
            intent.body.update(status="canceled", canceled_at=ctx.now, cancellation_reason="abandoned")
            await repository.update_object(ctx.conn, intent)
            await emit(ctx, "payment_intent.canceled", intent.body, automatic=automatic)
    session.body.update(status="expired", url=None)
    await repository.update_object(ctx.conn, session)
    await emit(ctx, "checkout.session.expired", session.body, automatic=automatic)


async def expire_overdue(ctx: Context) -> int:
    """Expire every open session whose `expires_at` has passed; how many."""
    ids = await repository.overdue_session_ids(ctx.conn, ctx.now)
    for session_id in ids:
        await load_session(ctx, session_id, for_update=True)
    return len(ids)


def line_items_list(session: StoredObject) -> JsonObject:
    items = session.internal.get("line_items", [])
    return objects.list_object(items, has_more=False, url=f"/v1/checkout/sessions/{session.id}/line_items")


def _line_items(params: Params, now: int) -> tuple[list[JsonObject], str, int]:
    entries = params.hashes("line_items")
    if not entries:
        raise missing_param("line_items")
    items: list[JsonObject] = []
    currency: str | None = None
    total = 0
    for entry in entries:
        entry.only("price_data", "quantity", "price")
        if "price" in entry:
            raise param_error("The sandbox has no Price objects: describe the item with `price_data`.",
                              entry.name("price"))
        price_data = entry.child("price_data")
        if price_data is None:
            raise missing_param(entry.name("price_data"))
        price_data.only("currency", "unit_amount", "product_data", "tax_behavior")
        item_currency = _currency(price_data)
        if currency is not None and item_currency != currency:
            raise param_error("All line items must use the same currency.", price_data.name("currency"))
        currency = item_currency
        unit_amount = price_data.required_integer("unit_amount", minimum=0, maximum=MAX_AMOUNT)
        product = price_data.child("product_data")
        if product is None:
            raise missing_param(price_data.name("product_data"))
        product.only("name", "description", "metadata", "images", "tax_code")
        name = product.required_string("name", max_length=250)
        product.string("description")
        product.metadata()
        quantity = entry.required_integer("quantity", minimum=1, maximum=999_999)
        items.append(objects.line_item(name=name, currency=item_currency, unit_amount=unit_amount,
                                       quantity=quantity, created=now))
        total += unit_amount * quantity
    if currency is None or total < 1:
        raise param_error("The Checkout Session's total amount due must be greater than zero.", "line_items")
    if total > MAX_AMOUNT:
        raise StripeError(400, f"The Checkout Session's total amount due must be no more than {MAX_AMOUNT} "
                               f"({currency} in its smallest unit).", code="amount_too_large",
                          param="line_items", stored=False)
    return items, currency, total


def _currency(params: Params) -> str:
    value = params.required_string("currency")
    currency = value.lower()
    if currency not in currencies.SUPPORTED:
        raise param_error(f"Invalid currency: {value}. Stripe currently supports these currencies: "
                          + ", ".join(sorted(currencies.SUPPORTED)), params.name("currency"))
    return currency


def _url(params: Params, key: str, *, required: bool = False) -> str | None:
    value = params.string(key, required=required, max_length=5000)
    if value is None:
        return None
    parts = urlsplit(value.replace("{CHECKOUT_SESSION_ID}", "id"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise param_error("Not a valid URL", params.name(key), "url_invalid")
    return value


def _expires_at(params: Params, now: int) -> int:
    value = params.integer("expires_at")
    if value is None:
        return now + MAX_EXPIRY_SECONDS
    if value - now < MIN_EXPIRY_SECONDS:
        raise param_error("The `expires_at` timestamp must be at least 30 minutes from Checkout Session "
                          "creation.", "expires_at")
    if value - now > MAX_EXPIRY_SECONDS:
        raise param_error("The `expires_at` timestamp must be less than 24 hours from Checkout Session "
                          "creation.", "expires_at")
    return value


def _email(params: Params, key: str) -> str | None:
    value = params.string(key, max_length=800)
    if value is not None and not _EMAIL.match(value):
        raise param_error(f"Invalid email address: {value}", params.name(key), "email_invalid")
    return value


def _intent_data(params: Params | None) -> JsonObject:
    if params is None:
        return {"metadata": {}, "description": None, "receipt_email": None, "statement_descriptor": None,
                "statement_descriptor_suffix": None}
    params.only(*INTENT_DATA_PARAMS)
    return {
        "metadata": params.metadata(),
        "description": params.string("description", max_length=1000),
        "receipt_email": _email(params, "receipt_email"),
        "statement_descriptor": params.string("statement_descriptor", max_length=22),
        "statement_descriptor_suffix": params.string("statement_descriptor_suffix", max_length=22),
    }
