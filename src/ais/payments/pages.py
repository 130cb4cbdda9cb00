"""Where the hosted checkout sends the passenger back (the session's success and cancel URLs).

The page names the booking the checkout was for (`?booking=<id>`, which only the checkout's own
URLs carry): its reference, flight, route and local times, so the passenger sees at once which
trip this was. Nothing personal (no names, e-mail or amount): the booking itself is read in the
app, behind the passenger's token. An unknown or malformed id gets the same page without them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from ais.bookings import repository as bookings_repository
from ais.bookings.rules import TICKETED
from ais.flights.airports import airport_zones
from ais.flights.presenters import wall_clock
from ais.http.dependencies import SessionDep

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Trip:
    reference: str
    flight_number: str
    origin: str
    destination: str
    departure: str
    arrival: str
    ticketed: bool


@lru_cache
def _templates() -> Environment:
    return Environment(loader=PackageLoader("ais", "templates/pages"), autoescape=select_autoescape())


async def _trip(session: AsyncSession, booking_id: str | None) -> Trip | None:
    try:
        parsed = uuid.UUID(booking_id or "")
    except ValueError:
        return None
    booking = await bookings_repository.find_booking(session, booking_id=parsed)
    if booking is None:
        return None
    flight = booking.flight
    zones = await airport_zones(session, {flight.origin, flight.destination})
    return Trip(
        reference=booking.reference, flight_number=flight.flight_number, origin=flight.origin,
        destination=flight.destination, departure=wall_clock(flight.departure_at, flight.origin, zones),
        arrival=wall_clock(flight.arrival_at, flight.destination, zones), ticketed=booking.status in TICKETED,
    )


def _page(request: Request, *, title: str, message: str, trip: Trip | None, ok: bool) -> HTMLResponse:
    html = _templates().get_template("payment_result.html").render(
        title=title, message=message, trip=trip, ok=ok, root=request.scope.get("root_path", "").rstrip("/"),
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.get("/payments/success")
async def payment_success(request: Request, session: SessionDep, booking: str | None = None) -> HTMLResponse:
    trip = await _trip(session, booking)
    if trip is not None and trip.ticketed:
        message = "Thank you. Your booking is confirmed; your e-tickets are on their way by e-mail."
    else:
        message = ("Thank you. Your booking is confirmed as soon as the payment is settled, usually within "
                   "seconds; your e-tickets follow by e-mail.")
    return _page(request, title="Payment received", message=message, trip=trip, ok=True)


@router.get("/payments/cancelled")
async def payment_cancelled(request: Request, session: SessionDep, booking: str | None = None) -> HTMLResponse:
    trip = await _trip(session, booking)
    return _page(request, title="Payment not completed", trip=trip, ok=False,
                 message="No money was taken. Your seats stay held until the time shown in the app; you can try "
                         "paying again before then.")
