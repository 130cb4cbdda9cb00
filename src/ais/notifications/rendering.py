"""Passenger e-mails as text and HTML, from one notice (SPEC §3: times are shown as the clock reads
at each airport, with the offset and the zone named, never in UTC only; the notice carries them
so formatted)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ais.notifications.notice import BookingNotice

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


def render(notice: BookingNotice) -> RenderedMessage:
    """The notice's e-mail in both forms."""
    values = {
        "reference": notice.reference,
        "flight_number": notice.flight_number,
        "origin": notice.origin,
        "destination": notice.destination,
        "departure": notice.departure,
        "arrival": notice.arrival,
        "total": notice.total,
        "currency": notice.currency,
        "passengers": list(notice.passengers),
        **notice.context,
    }
    templates = _templates()
    return RenderedMessage(
        subject=SUBJECTS[notice.kind].format(reference=notice.reference),
        text=templates.get_template(f"{notice.kind}.txt").render(**values),
        html=templates.get_template(f"{notice.kind}.html").render(**values),
    )
