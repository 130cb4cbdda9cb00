"""Passenger e-mails as text and HTML, from one set of values (SPEC §3: times are shown as the
clock reads at each airport, with the offset and the zone named, never in UTC only)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from ais.bookings.models import Booking
from ais.flights.airports import airport_zones
from ais.flights.presenters import wall_clock
from ais.money import format_amount

SUBJECTS = {
    "booking_confirmed": "Your booking {reference} is confirmed",
    "booking_cancelled": "Your booking {reference} is cancelled",
    "refund_completed": "Your refund for booking {reference}",
    "late_payment_refunded": "Your payment for booking {reference} was refunded",
    "checked_in": "Your boarding passes for booking {reference}",
}


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


@lru_cache
def _templates() -> Environment:
    # HTML is escaped (a passenger's name is not markup); the text version is not.
    return Environment(loader=PackageLoader("ais", "templates/email"), undefined=StrictUndefined,
                       autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
                       keep_trailing_newline=True)


async def render_booking_message(session: AsyncSession, booking: Booking, kind: str,
                                 **context: Any) -> RenderedMessage:
    """The `kind` e-mail about `booking` (its flight and passengers loaded), in both forms."""
    flight = booking.flight
    zones = await airport_zones(session, {flight.origin, flight.destination})
    values = {
        "reference": booking.reference,
        "flight_number": flight.flight_number,
        "origin": flight.origin,
        "destination": flight.destination,
        "departure": wall_clock(flight.departure_at, flight.origin, zones),
        "arrival": wall_clock(flight.arrival_at, flight.destination, zones),
        "total": format_amount(booking.total_minor, booking.currency),
        "currency": booking.currency,
        "passengers": [(p.first_name, p.last_name, p.ticket_number) for p in booking.passengers],
        **context,
    }
    templates = _templates()
    return RenderedMessage(
        subject=SUBJECTS[kind].format(reference=booking.reference),
        text=templates.get_template(f"{kind}.txt").render(**values),
        html=templates.get_template(f"{kind}.html").render(**values),
    )
