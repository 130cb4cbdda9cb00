"""The hosted test checkout: `GET /checkout/{id}` shows the session, `POST` with `outcome`
completes it and redirects (303) as Stripe's hosted page does."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ais.payments.sandbox import currencies, objects, sessions
from ais.payments.sandbox.errors import StripeError
from ais.payments.sandbox.payment_flow import OUTCOMES, Outcome, SessionNotOpen, complete
from ais.payments.sandbox.repository import StoredObject
from ais.payments.sandbox.runtime import Sandbox

router = APIRouter(prefix="/checkout")
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    auto_reload=False,
    trim_blocks=True,
    lstrip_blocks=True,
)
# The page runs no script and embeds nothing but its stylesheet; it must not be framed
# (clickjacking a Pay button).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_FORM_BYTES = 4096
# Metadata keys a merchant may put its booking's record locator under (AIS sends `reference`).
REFERENCE_KEYS = ("bookingReference", "booking_reference", "reference")


@router.get("/{session_id}", response_class=HTMLResponse)
async def show_checkout(request: Request, session_id: str) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    try:
        async with sandbox.unit_of_work() as ctx:
            session = await sessions.load_session(ctx, session_id)
    except StripeError as exc:
        return _unknown(session_id) if exc.status == 404 else _unavailable(exc)
    if session.body["status"] != "open":
        return _not_open(session.body)
    return _page(session)


@router.post("/{session_id}", response_class=HTMLResponse)
async def submit_checkout(request: Request, session_id: str) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return _render("unavailable.html", 413, heading="Request too large", session_id=session_id,
                       message="The checkout form sends a single `outcome` field.")
    form = dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
    outcome = form.get("outcome", "")
    if outcome not in OUTCOMES:
        return _render("unavailable.html", 400, heading="Unknown outcome", session_id=session_id,
                       message=f"`outcome` must be one of: {', '.join(OUTCOMES)}.")
    try:
        async with sandbox.unit_of_work() as ctx:
            session = await complete(ctx, session_id, cast(Outcome, outcome))
    except StripeError as exc:
        return _unknown(session_id) if exc.status == 404 else _unavailable(exc)
    except SessionNotOpen as exc:
        return _not_open(exc.session)
    body = session.body
    if outcome == "declined":
        if body["cancel_url"]:
            return _redirect(body["cancel_url"], session_id)
        return _page(session, status=402, notice=f"{objects.DECLINE_MESSAGE} Nothing was charged; try again.")
    return _redirect(body["success_url"], session_id)


def _redirect(url: str, session_id: str) -> Response:
    # Stripe fills the literal placeholder {CHECKOUT_SESSION_ID} in the return URLs.
    return RedirectResponse(url.replace("{CHECKOUT_SESSION_ID}", session_id), status_code=303,
                            headers={"Cache-Control": "no-store"})


def _page(session: StoredObject, *, status: int = 200, notice: str | None = None) -> Response:
    body = session.body
    currency = body["currency"]
    metadata: dict[str, str] = dict(body["metadata"] or {})
    reference_key = next((key for key in REFERENCE_KEYS if metadata.get(key)), None)
    reference = metadata.pop(reference_key) if reference_key else None
    expires = datetime.fromtimestamp(body["expires_at"], UTC)
    items = [
        {"name": item["description"], "quantity": item["quantity"],
         "total": currencies.format_amount(item["amount_total"], currency)}
        for item in session.internal.get("line_items", [])
    ]
    # What a tester may want to check, out of the passenger's way and in words, not raw keys.
    technical = [("Session ID", body["id"])]
    if body["client_reference_id"]:
        technical.append(("Client reference ID", body["client_reference_id"]))
    technical += [(readable_label(key), value) for key, value in sorted(metadata.items())]
    return _render(
        "checkout.html", status,
        session_id=body["id"],
        amount=currencies.format_amount(body["amount_total"], currency),
        currency=currency.upper(),
        reference=reference,
        items=items,
        technical=technical,
        customer_email=body["customer_email"],
        expires_iso=expires.isoformat(),
        expires_text=expires.strftime("%Y-%m-%d %H:%M UTC"),
        notice=notice,
    )


def readable_label(key: str) -> str:
    """A metadata key as a label: `bookingId` → "Booking ID", `seat_class` → "Seat class"."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).replace("_", " ").replace("-", " ").split()
    words = ["ID" if word.lower() == "id" else word.lower() for word in words]
    if not words:
        return key
    return words[0][:1].upper() + words[0][1:] + "".join(f" {word}" for word in words[1:])


def _not_open(body: dict[str, Any]) -> Response:
    if body["status"] == "expired":
        return _render("unavailable.html", 410, heading="This checkout has expired", session_id=body["id"],
                       message="The time to pay ran out. Nothing was charged. Return to the booking to start again.")
    paid = body["payment_status"] == "paid"
    return _render("unavailable.html", 409, heading="This checkout is already complete", session_id=body["id"],
                   ok=True, message="Payment received." if paid else "The payment is being processed.")


def _unknown(session_id: str) -> Response:
    return _render("unavailable.html", 404, heading="Checkout not found", session_id=None,
                   message=f"There is no checkout session {session_id!r} in this sandbox.")


def _unavailable(error: StripeError) -> Response:
    return _render("unavailable.html", error.status, heading="Checkout unavailable", session_id=None,
                   message=error.message)


def _render(template: str, status: int, **context: Any) -> Response:
    html = _templates.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
