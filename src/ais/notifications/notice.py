"""What a passenger e-mail is about, as plain values. The bookings side builds it
(`ais.bookings.notices`); notifications never see a booking, so they sit below the domains
they report on."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class BookingNotice:
    kind: str  # booking_confirmed | booking_cancelled | refund_completed | late_payment_refunded | checked_in
    booking_id: uuid.UUID
    user_id: uuid.UUID  # the booking's owner: the hourly cap counts per user
    recipient: str
    reference: str
    flight_number: str
    origin: str
    destination: str
    departure: str  # as the clock reads at the origin airport, with offset and zone
    arrival: str  # as the clock reads at the destination airport
    total: str
    currency: str
    passengers: tuple[tuple[str, str, str | None], ...]  # first name, last name, ticket number
    context: Mapping[str, Any] = field(default_factory=dict)  # the kind's own values (refund amount …)
    dedupe: str = ""  # one notice per (kind, booking, dedupe): a webhook applied twice mails once

    @property
    def dedupe_key(self) -> str:
        return f"{self.kind}:{self.booking_id}:{self.dedupe}"
