"""Notifications take a plain `BookingNotice` (built by the bookings side), never a booking: the
e-mail renders from the notice alone, with no database and no bookings model."""

from __future__ import annotations

import uuid

from ais.notifications.notice import BookingNotice
from ais.notifications.rendering import render


def _notice(kind: str, **context: object) -> BookingNotice:
    return BookingNotice(
        kind=kind, booking_id=uuid.uuid4(), user_id=uuid.uuid4(), recipient="traveller@example.com",
        reference="ABC234", flight_number="AI101", origin="RUH", destination="JED",
        departure="2027-03-01 09:30 +03:00 (Asia/Riyadh)", arrival="2027-03-01 11:10 +03:00 (Asia/Riyadh)",
        total="990.00", currency="SAR", passengers=(("Lina", "Haddad", "0651234567890"),), context=context,
    )


def test_a_cancellation_with_its_refund_renders_from_the_notice_alone() -> None:
    message = render(_notice("booking_cancelled", refund_amount="990.00"))
    assert message.subject == "Your booking ABC234 is cancelled"
    assert "A refund of 990.00 SAR" in message.text and "2027-03-01 09:30 +03:00" in message.text
    assert "990.00" in message.html and "<script" not in message.html


def test_each_notice_is_one_per_kind_booking_and_dedupe() -> None:
    notice = _notice("refund_completed", refund_amount="10.00")
    assert notice.dedupe_key == f"refund_completed:{notice.booking_id}:"
