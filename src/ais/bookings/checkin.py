"""Online check-in and boarding passes (SPEC §7, §11 passenger side).

Check-in moves a confirmed booking to `checked_in` from 24 h to 1 h before departure, gives
every passenger a seat and a check-in sequence number (kept on the passenger row) and e-mails
the boarding passes. The passes are rebuilt from those rows whenever the app asks again, so
they are the same bytes every time. Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit.service import Actor
from ais.bookings import bcbp, repository
from ais.bookings.models import Booking, Passenger, PassengerType
from ais.bookings.notices import queue_booking_message
from ais.bookings.presenters import local_departure_date
from ais.bookings.rules import HOLDS_BOARDING_PASSES, BookingStatus, check_transition
from ais.bookings.service import transition
from ais.db.base import utcnow
from ais.errors import BookingConflict, InternalError
from ais.flights.rules import SELLABLE_STATUSES

CHECK_IN_OPENS = timedelta(hours=24)
CHECK_IN_CLOSES = timedelta(hours=1)


@dataclass(frozen=True)
class IssuedPass:
    passenger: Passenger
    seat: str
    sequence_number: int
    bcbp: str




async def check_in(session: AsyncSession, booking: Booking, *, actor: Actor, now: datetime | None = None
                   ) -> list[IssuedPass]:
    """Confirmed → checked_in between 24 h and 1 h before departure; a seat and a BCBP
    boarding pass for every passenger (a lap infant shares its adult's seat). The passes are
    e-mailed to the booking's contact address too."""
    now = now or utcnow()
    flight = booking.flight
    if booking.status != BookingStatus.CONFIRMED:
        check_transition(booking.status, BookingStatus.CHECKED_IN)
    opens, closes = flight.departure_at - CHECK_IN_OPENS, flight.departure_at - CHECK_IN_CLOSES
    if not opens <= now <= closes:
        raise BookingConflict(
            "Check-in is open from 24 hours until 1 hour before departure.",
            details={"opensAt": opens.isoformat(), "closesAt": closes.isoformat()},
        )
    if flight.status not in SELLABLE_STATUSES:
        raise BookingConflict("This flight is not open for check-in.", details={"flightStatus": flight.status.value})
    await transition(session, booking, BookingStatus.CHECKED_IN, reason="online check-in", actor=actor)
    await _assign_seats(session, booking)
    passes = await _issue_passes(session, booking)
    await queue_booking_message(session, booking, "checked_in", boarding_passes=[
        {"passenger": f"{p.passenger.first_name} {p.passenger.last_name}", "seat": p.seat,
         "sequence_number": p.sequence_number, "ticket_number": p.passenger.ticket_number, "bcbp": p.bcbp}
        for p in passes
    ])
    return passes


async def boarding_passes(session: AsyncSession, booking: Booking) -> list[IssuedPass]:
    """The boarding passes of a checked-in (or boarded) booking, again, exactly as check-in
    issued them. Raises BookingConflict before check-in and once the flight is over."""
    if booking.status not in HOLDS_BOARDING_PASSES:
        raise BookingConflict(
            "Boarding passes exist only for a checked-in booking.",
            details={"status": booking.status.value},
        )
    return await _issue_passes(session, booking)


async def _assign_seats(session: AsyncSession, booking: Booking) -> None:
    """A seat and a check-in sequence number for every passenger, stored on the passenger row."""
    seated = [p for p in booking.passengers if p.type != PassengerType.INFANT]
    sequences = iter(await repository.next_checkin_sequences(session, booking.cabin_id, len(seated)))
    last_seat, last_sequence = "", 0
    for passenger in booking.passengers:
        if passenger.type != PassengerType.INFANT:
            last_sequence = next(sequences)
            last_seat = bcbp.seat_for_sequence(booking.cabin_class, last_sequence)
        passenger.seat_number = last_seat
        passenger.checkin_sequence = last_sequence


async def _issue_passes(session: AsyncSession, booking: Booking) -> list[IssuedPass]:
    """The BCBP of every passenger, from what the passenger rows keep (seat, sequence number)."""
    departure_date = await local_departure_date(session, booking.flight)
    passes: list[IssuedPass] = []
    for passenger in booking.passengers:
        if passenger.seat_number is None or passenger.checkin_sequence is None:
            raise InternalError("A checked-in passenger has no seat or sequence number.")
        passes.append(IssuedPass(
            passenger=passenger, seat=passenger.seat_number, sequence_number=passenger.checkin_sequence,
            bcbp=bcbp.encode(
                last_name=passenger.last_name, first_name=passenger.first_name, reference=booking.reference,
                origin=booking.flight.origin, destination=booking.flight.destination,
                flight_number=booking.flight.flight_number, departure_local_date=departure_date,
                cabin=booking.cabin_class, seat=passenger.seat_number, sequence_number=passenger.checkin_sequence,
            ),
        ))
    return passes
