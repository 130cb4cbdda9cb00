"""The e-mail sender job: one outbox message per job, SMTP when `SMTP_URL` is set, `.eml` files in
the data dir otherwise (embedded mode).

The message is row-locked while it is sent, so two jobs for one message (the sweep deferred it
again while its first job ran) send it once. A failed send raises: the job engine retries it with
exponential backoff and records the error; after the last attempt the message is kept `failed`."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import uuid
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlparse

import structlog

from ais.config import Settings
from ais.db.base import utcnow
from ais.db.unit_of_work import UnitOfWork
from ais.notifications import repository
from ais.notifications.models import MessageStatus, OutboxMessage
from ais.notifications.service import defer_sending
from ais.runtime import Runtime

_log = structlog.get_logger("ais.notifications")
SENDER = "AIS Airline <no-reply@ais.invalid>"
SMTP_TIMEOUT_SECONDS = 15
# A message still pending this long after it was queued gets its job (again) from the sweep: its
# after-commit defer never happened (the process died), or its job is gone. A message whose job
# still waits keeps that one job (its queueing lock); one whose job runs is sent once (the row lock).
SWEEP_AFTER = timedelta(seconds=20)


class SendFailed(Exception):
    """The SMTP server (or the outbox directory) refused or did not answer: retried by the job engine."""


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
    client: smtplib.SMTP = (smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT_SECONDS, context=context) if secure
                            else smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_SECONDS))
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


async def send_message(runtime: Runtime, message_id: uuid.UUID | str) -> int:
    """Send one outbox message (the `send_email` job): 1 when it was sent now, 0 when there was
    nothing to send (sent already, or unknown). Raises SendFailed to be retried."""
    message_id = uuid.UUID(str(message_id))
    failure: SendFailed | None = None
    async with UnitOfWork(runtime) as uow:
        message = await repository.message_for_update(uow.session, message_id)
        if message is None or message.status == MessageStatus.SENT:
            return 0  # a `failed` one is sent again: its job was retried (`ais jobs retry`)
        message.attempts += 1
        try:
            await deliver(runtime.settings, message)
        except (OSError, smtplib.SMTPException) as exc:
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            _log.warning("email_retry", message_id=str(message.id), attempts=message.attempts)
            failure = SendFailed(message.last_error)
        else:
            message.status = MessageStatus.SENT
            message.sent_at = utcnow()
            _log.info("email_sent", message_id=str(message.id), kind=message.kind)
    if failure is not None:
        raise failure  # after the commit: the attempt and its error are kept
    return 1


async def give_up(runtime: Runtime, message_id: uuid.UUID | str) -> None:
    """The job's last attempt failed: the message stays `failed`, for inspection."""
    async with UnitOfWork(runtime) as uow:
        message = await repository.message_for_update(uow.session, uuid.UUID(str(message_id)))
        if message is not None and message.status == MessageStatus.PENDING:
            message.status = MessageStatus.FAILED
            _log.error("email_failed", message_id=str(message.id), kind=message.kind)


async def defer_unsent(runtime: Runtime, limit: int = 500) -> int:
    """The outbox sweep: defer the job of every message still pending after `SWEEP_AFTER`."""
    async with UnitOfWork(runtime) as uow:
        ids = await repository.unsent_message_ids(uow.session, utcnow() - SWEEP_AFTER, limit)
    for message_id in ids:
        await defer_sending(runtime, message_id)
    return len(ids)
