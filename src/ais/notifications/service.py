"""Passenger e-mails, queued inside the transaction of the change they report (rendered as text
and HTML by `rendering.py`, capped by `caps.py`), and sent by one `send_email` job each
(`sender.py`), deferred once the transaction has committed."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ais.db.base import utcnow
from ais.db.unit_of_work import after_commit, unit_of_work_of
from ais.db.upsert import insert_if_absent
from ais.notifications.caps import may_queue
from ais.notifications.models import MessageStatus, OutboxMessage
from ais.notifications.notice import BookingNotice
from ais.notifications.rendering import render
from ais.runtime import Runtime

SEND_EMAIL = "send_email"


def email_lock(message_id: uuid.UUID) -> str:
    """The queueing lock of a message's job: never two waiting for one message."""
    return f"{SEND_EMAIL}:{message_id}"


async def defer_sending(runtime: Runtime, message_id: uuid.UUID) -> None:
    await runtime.defer(SEND_EMAIL, queueing_lock=email_lock(message_id), message_id=str(message_id))


async def queue(session: AsyncSession, notice: BookingNotice) -> None:
    """Queue the notice's e-mail to its recipient, once per (kind, booking, dedupe): a webhook
    applied twice does not e-mail twice. Beyond the caps (caps.py) the notice is dropped and
    logged."""
    if not await may_queue(session, notice):
        return
    message = render(notice)
    message_id = uuid.uuid4()
    inserted = await insert_if_absent(session, OutboxMessage.__table__, {
        "id": message_id, "kind": notice.kind, "dedupe_key": notice.dedupe_key,
        "booking_id": notice.booking_id, "recipient": notice.recipient,
        "subject": message.subject, "body_text": message.text, "body_html": message.html,
        "status": MessageStatus.PENDING.value, "attempts": 0, "next_attempt_at": utcnow(), "created_at": utcnow(),
    }, ["dedupe_key"])
    if inserted and _in_a_unit_of_work(session):
        # Sent right after the commit (within about a second); the sweep catches a process that
        # died between the commit and this defer (and a message queued outside a unit of work).
        async def send(runtime: Runtime) -> None:
            await defer_sending(runtime, message_id)

        after_commit(session, send, key=(SEND_EMAIL, message_id))


def _in_a_unit_of_work(session: AsyncSession) -> bool:
    try:
        unit_of_work_of(session)
    except RuntimeError:
        return False  # a command still on its own session (reconciliation): the sweep sends it
    return True
