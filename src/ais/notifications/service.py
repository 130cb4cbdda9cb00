"""Passenger e-mails, queued inside the transaction of the change they report (rendered as text
and HTML by `rendering.py`)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ais.bookings.models import Booking
from ais.db.base import utcnow
from ais.db.upsert import insert_if_absent
from ais.notifications.caps import may_queue
from ais.notifications.models import MessageStatus, OutboxMessage
from ais.notifications.rendering import render_booking_message


async def queue_booking_message(session: AsyncSession, booking: Booking, kind: str, *, dedupe: str = "",
                                **context: Any) -> None:
    """Queue the `kind` e-mail about `booking` to its contact address, once per (kind, booking,
    dedupe): a webhook applied twice does not e-mail twice. Beyond the caps (caps.py) the
    notice is dropped and logged."""
    dedupe_key = f"{kind}:{booking.id}:{dedupe}"
    if not await may_queue(session, booking, kind, dedupe_key):
        return
    message = await render_booking_message(session, booking, kind, **context)
    await insert_if_absent(session, OutboxMessage.__table__, {
        "id": uuid.uuid4(), "kind": kind, "dedupe_key": dedupe_key,
        "booking_id": booking.id, "recipient": booking.contact_email,
        "subject": message.subject, "body_text": message.text, "body_html": message.html,
        "status": MessageStatus.PENDING.value, "attempts": 0, "next_attempt_at": utcnow(), "created_at": utcnow(),
    }, ["dedupe_key"])
