"""Passenger e-mails go through an outbox written in the same transaction as the change, and are
sent to a real SMTP server (aiosmtpd) by one `send_email` job each; a failed send is kept for the
job engine to retry, and a job that gives up leaves the message `failed`."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from ais.notifications.models import MessageStatus, OutboxMessage
from ais.notifications.sender import SendFailed, give_up, send_message
from ais.runtime import Runtime
from ais.wiring import create_runtime
from tests.factories import book, idempotency_key, new_flight, new_user
from tests.fixtures.payment_flow import Live, pay_through_checkout
from tests.fixtures.smtp import Inbox, smtp_server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with smtp_server(inbox) as port:
        yield inbox, port


async def _messages_of(runtime: Runtime, booking_id: str) -> list[OutboxMessage]:
    async with runtime.session_factory() as session:
        return list((await session.scalars(select(OutboxMessage).where(
            OutboxMessage.booking_id == uuid.UUID(booking_id)).order_by(OutboxMessage.created_at))).all())


async def send_all(runtime: Runtime, *booking_ids: str) -> int:
    """What the `send_email` jobs of these bookings' messages do."""
    sent = 0
    for booking_id in booking_ids:
        for message in await _messages_of(runtime, booking_id):
            sent += await send_message(runtime, message.id)
    return sent


async def test_confirmation_and_cancellation_mails_reach_a_real_smtp_server(client, runtime, settings, smtp, live,
                                                                            pay_and_confirm):
    inbox, port = smtp
    user = await new_user(client, runtime)
    flight = await new_flight(runtime)
    booking = (await book(client, user, flight, count=2, contact_email="layla@example.com")).json()
    await pay_and_confirm(user, booking["id"])
    await paying_again_is_refused(live, user, booking["id"])
    unpaid = (await book(client, user, flight, contact_email="omar@example.com")).json()
    await client.post(f"/api/v1/bookings/{unpaid['id']}/cancel", headers={**user.headers, **idempotency_key()})

    sender = create_runtime(settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"}))
    try:
        assert await send_all(sender, booking["id"], unpaid["id"]) == 2
        assert await send_all(sender, booking["id"], unpaid["id"]) == 0  # sent once
    finally:
        await sender.close()
    received = {tuple(rcpt): message_from_bytes(content, policy=policy.default) for _, rcpt, content in inbox.received}
    confirmed = received[("layla@example.com",)]
    assert confirmed["Subject"] == f"Your booking {booking['reference']} is confirmed"
    assert confirmed.get_content_type() == "multipart/alternative"  # text and HTML (SPEC §7 item 25)
    body = confirmed.get_body(("plain",)).get_content()
    assert "e-ticket 065" in body and flight.flight_number in body
    html = confirmed.get_body(("html",)).get_content()
    assert "e-ticket 065" in html and flight.flight_number in html
    cancelled = received[("omar@example.com",)]
    assert "No payment was taken" in cancelled.get_body(("plain",)).get_content()
    [stored] = await _messages_of(runtime, booking["id"])
    assert stored.status == MessageStatus.SENT and stored.sent_at is not None


async def paying_again_is_refused(live: Live, user, booking_id: str) -> None:  # type: ignore[no-untyped-def]
    """Paying a confirmed booking again is refused, so the confirmation is queued once."""
    response = await pay_through_checkout(live, user, booking_id)
    assert response.status_code == 409 and response.json()["code"] == "BOOKING_CONFLICT", response.text


async def test_smtp_down_retries_with_backoff_and_loses_nothing(client, runtime, settings, pay_and_confirm):
    user = await new_user(client, runtime)
    booking = (await book(client, user, await new_flight(runtime))).json()
    await pay_and_confirm(user, booking["id"])
    sender = create_runtime(settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{_free_port()}"}))
    [message] = await _messages_of(runtime, booking["id"])
    try:
        with pytest.raises(SendFailed):  # the job engine retries it with backoff
            await send_message(sender, message.id)
        [message] = await _messages_of(runtime, booking["id"])
        assert message.status == MessageStatus.PENDING and message.attempts == 1 and message.last_error
        await give_up(sender, message.id)  # the job's last attempt failed
    finally:
        await sender.close()
    [message] = await _messages_of(runtime, booking["id"])
    assert message.status == MessageStatus.FAILED and message.last_error


async def test_without_smtp_embedded_mode_writes_eml_files(client, runtime, settings, pay_and_confirm):
    user = await new_user(client, runtime)
    booking = (await book(client, user, await new_flight(runtime))).json()
    await pay_and_confirm(user, booking["id"])
    assert settings.smtp_url is None
    assert await send_all(runtime, booking["id"]) == 1
    written = [p.read_text() for p in (settings.ais_data_dir / "outbox").glob("*.eml")]
    assert any(f"Subject: Your booking {booking['reference']} is confirmed" in text for text in written)


