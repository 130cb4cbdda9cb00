"""Passenger e-mails, queued inside the transaction of the change they report."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from ais.bookings.models import Booking
from ais.db.base import utcnow
from ais.db.upsert import insert_if_absent
from ais.money import format_amount
from ais.notifications.caps import may_queue
from ais.notifications.models import MessageStatus, OutboxMessage

SUBJECTS = {
    "booking_confirmed": "Your booking {reference} is confirmed",
    "booking_cancelled": "Your booking {reference} is cancelled",
    "refund_completed": "Your refund for booking {reference}",
    "late_payment_refunded": "Your payment for booking {reference} was refunded",
}


@lru_cache
def _templates() -> Environment:
    return Environment(loader=PackageLoader("ais", "templates/email"), undefined=StrictUndefined,
                       autoescape=select_autoescape(enabled_extensions=("html",)), keep_trailing_newline=True)


async def queue_booking_message(session: AsyncSession, booking: Booking, kind: str, *, dedupe: str = "",
                                **context: Any) -> None:
    """Queue the `kind` e-mail about `booking` to its contact address, once per (kind, booking,
    dedupe): a webhook applied twice does not e-mail twice. Beyond the caps (caps.py) the
    notice is dropped and logged."""
    dedupe_key = f"{kind}:{booking.id}:{dedupe}"
    if not await may_queue(session, booking, kind, dedupe_key):
        return
    values = {
        "reference": booking.reference,
        "flight_number": booking.flight.flight_number,
        "origin": booking.flight.origin,
        "destination": booking.flight.destination,
        "departure": booking.flight.departure_at.strftime("%Y-%m-%d %H:%M UTC"),
        "total": format_amount(booking.total_minor, booking.currency),
        "currency": booking.currency,
        "passengers": [(p.first_name, p.last_name, p.ticket_number) for p in booking.passengers],
        **context,
    }
    body = _templates().get_template(f"{kind}.txt").render(**values)
    await insert_if_absent(session, OutboxMessage.__table__, {
        "id": uuid.uuid4(), "kind": kind, "dedupe_key": dedupe_key,
        "booking_id": booking.id, "recipient": booking.contact_email,
        "subject": SUBJECTS[kind].format(reference=booking.reference), "body_text": body,
        "status": MessageStatus.PENDING.value, "attempts": 0, "next_attempt_at": utcnow(), "created_at": utcnow(),
    }, ["dedupe_key"])
