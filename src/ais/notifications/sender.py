"""The outbox sender job: SMTP when `SMTP_URL` is set, `.eml` files in the data dir otherwise
(embedded mode). Failed sends are retried with exponential backoff, then kept as `failed`."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlparse

import structlog
from sqlalchemy import select

from ais.config import Settings
from ais.db.base import utcnow
from ais.notifications.models import MessageStatus, OutboxMessage
from ais.runtime import Runtime

_log = structlog.get_logger("ais.notifications")
MAX_ATTEMPTS = 8
SENDER = "AIS Airline <no-reply@ais.invalid>"


def build_message(message: OutboxMessage, sender: str = SENDER) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = f"<{message.id}@ais>"
    email.set_content(message.body_text)
    if message.body_html:  # multipart/alternative: mail clients show the HTML, others the text
        email.add_alternative(message.body_html, subtype="html")
    return email


def _send_smtp(smtp_url: str, email: EmailMessage) -> None:
    """smtp://user:pass@host:587 (STARTTLS when offered) or smtps://… (TLS from the start)."""
    url = urlparse(smtp_url)
    host, secure = url.hostname or "localhost", url.scheme == "smtps"
    port = url.port or (465 if secure else 25)
    context = ssl.create_default_context()
    client: smtplib.SMTP = (smtplib.SMTP_SSL(host, port, timeout=15, context=context) if secure
                            else smtplib.SMTP(host, port, timeout=15))
    with client:
        client.ehlo()
        if not secure and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(email)


def _write_file(directory: Path, message: OutboxMessage, email: EmailMessage) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{message.created_at:%Y%m%dT%H%M%S}-{message.kind}-{message.id}.eml"
    path.write_bytes(bytes(email))


async def deliver(settings: Settings, message: OutboxMessage) -> None:
    email = build_message(message)
    if settings.smtp_url:
        await asyncio.to_thread(_send_smtp, settings.smtp_url, email)
    else:
        await asyncio.to_thread(_write_file, settings.ais_data_dir / "outbox", message, email)


async def send_due_messages(runtime: Runtime, limit: int = 100) -> int:
    """Send what is due; one short transaction per message so a slow SMTP server holds no lock."""
    async with runtime.session_factory() as session:
        due = list((await session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == MessageStatus.PENDING, OutboxMessage.next_attempt_at <= utcnow())
            .order_by(OutboxMessage.next_attempt_at).limit(limit)
        )).all())
    sent = 0
    for message_id in due:
        async with runtime.session_factory() as session:
            message = await session.get(OutboxMessage, message_id, with_for_update=True)
            if message is None or message.status != MessageStatus.PENDING:
                continue
            try:
                await deliver(runtime.settings, message)
            except (OSError, smtplib.SMTPException) as exc:
                message.attempts += 1
                message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if message.attempts >= MAX_ATTEMPTS:
                    message.status = MessageStatus.FAILED
                    _log.error("email_failed", message_id=str(message.id), kind=message.kind)
                else:
                    message.next_attempt_at = utcnow() + timedelta(seconds=30 * 2 ** (message.attempts - 1))
                    _log.warning("email_retry", message_id=str(message.id), attempts=message.attempts)
            else:
                message.status = MessageStatus.SENT
                message.sent_at = utcnow()
                message.attempts += 1
                sent += 1
                _log.info("email_sent", message_id=str(message.id), kind=message.kind)
            await session.commit()
    return sent
