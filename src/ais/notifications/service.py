"""Passenger e-mails, queued inside the transaction of the change they report (rendered as text
and HTML by `rendering.py`, capped by `caps.py`, sent by the sender job)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ais.db.base import utcnow
from ais.db.upsert import insert_if_absent
from ais.notifications.caps import may_queue
from ais.notifications.models import MessageStatus, OutboxMessage
from ais.notifications.notice import BookingNotice
from ais.notifications.rendering import render


async def queue(session: AsyncSession, notice: BookingNotice) -> None:
    """Queue the notice's e-mail to its recipient, once per (kind, booking, dedupe): a webhook
    applied twice does not e-mail twice. Beyond the caps (caps.py) the notice is dropped and
    logged."""
    if not await may_queue(session, notice):
        return
    message = render(notice)
    await insert_if_absent(session, OutboxMessage.__table__, {
        "id": uuid.uuid4(), "kind": notice.kind, "dedupe_key": notice.dedupe_key,
        "booking_id": notice.booking_id, "recipient": notice.recipient,
        "subject": message.subject, "body_text": message.text, "body_html": message.html,
        "status": MessageStatus.PENDING.value, "attempts": 0, "next_attempt_at": utcnow(), "created_at": utcnow(),
    }, ["dedupe_key"])
