"""SPEC §3 and §7: passenger e-mails are HTML and text (multipart/alternative), and show the
departure and arrival as the clock reads at each airport, with the offset and zone named."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser

from sqlalchemy import select

from ais.notifications.models import OutboxMessage
from ais.notifications.sender import send_message
from tests.factories import idempotency_key, new_flight, new_user


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


async def _send_messages_of(runtime, booking_id: str) -> int:
    """What the `send_email` jobs of this booking's messages do."""
    async with runtime.session_factory() as session:
        ids = (await session.scalars(select(OutboxMessage.id)
                                     .where(OutboxMessage.booking_id == uuid.UUID(booking_id)))).all()
    return sum([await send_message(runtime, message_id) for message_id in ids])


def _written(settings, reference: str) -> EmailMessage:
    found = [path for path in (settings.ais_data_dir / "outbox").glob("*.eml")
             if f"Subject: Your booking {reference} is confirmed" in path.read_text()]
    assert len(found) == 1, found
    message = message_from_bytes(found[0].read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def test_the_eml_is_html_and_text_with_local_times_at_each_airport(client, runtime, settings, pay_and_confirm):
    user = await new_user(client, runtime)
    # Riyadh (UTC+03:00) to Tokyo (UTC+09:00): each end shows its own clock.
    flight = await new_flight(runtime, origin="RUH", destination="NRT", duration=timedelta(hours=9, minutes=20))
    shown = (await client.get(f"/api/v1/flights/{flight.id}")).json()
    departure = datetime.fromisoformat(shown["departureTime"])
    arrival = datetime.fromisoformat(shown["arrivalTime"])
    body = {"flightId": flight.id, "cabin": "economy", "contactEmail": "mona@example.com",
            "passengers": [{"firstName": "Mona", "lastName": "Al <b>Harbi</b>", "type": "adult"}]}
    booking = (await client.post("/api/v1/bookings", json=body, headers={**user.headers, **idempotency_key()})).json()
    await pay_and_confirm(user, booking["id"])
    assert settings.smtp_url is None  # embedded mode: the sender writes .eml files
    assert await _send_messages_of(runtime, booking["id"]) == 1

    email = _written(settings, booking["reference"])
    assert email.get_content_type() == "multipart/alternative"
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    assert html.lstrip().lower().startswith("<!doctype html>")
    readable = visible_text(html)

    expected_departure = f"{departure:%a} {departure.day} {departure:%b %Y, %H:%M} (UTC+03:00, Asia/Riyadh)"
    expected_arrival = f"{arrival:%a} {arrival.day} {arrival:%b %Y, %H:%M} (UTC+09:00, Asia/Tokyo)"
    for version in (text, readable):
        assert booking["reference"] in version
        assert flight.flight_number in version
        assert expected_departure in version, version
        assert expected_arrival in version, version
        assert " UTC\n" not in version and not version.rstrip().endswith(" UTC")  # not UTC only
    # A name is text, never markup, in the HTML version.
    assert "<b>Harbi</b>" not in html and "&lt;b&gt;Harbi&lt;/b&gt;" in html
    assert "Al <b>Harbi</b>" in text


async def test_every_kind_of_notice_has_an_html_version(client, runtime):
    user = await new_user(client, runtime)
    flight = await new_flight(runtime, origin="DXB", destination="KWI")
    booking = (await client.post("/api/v1/bookings", json={
        "flightId": flight.id, "cabin": "economy", "contactEmail": "sami@example.com",
        "passengers": [{"firstName": "Sami", "lastName": "Alotaibi", "type": "adult"}],
    }, headers={**user.headers, **idempotency_key()})).json()
    cancelled = await client.post(f"/api/v1/bookings/{booking['id']}/cancel",
                                  headers={**user.headers, **idempotency_key()})
    assert cancelled.status_code == 200, cancelled.text
    async with runtime.session_factory() as session:
        [row] = (await session.execute(
            OutboxMessage.__table__.select().where(OutboxMessage.booking_id == uuid.UUID(booking["id"])))).all()
    assert row.kind == "booking_cancelled"
    assert row.body_html and "No payment was taken" in row.body_html
    assert "(UTC+04:00, Asia/Dubai)" in row.body_text and "(UTC+03:00, Asia/Kuwait)" in row.body_text
