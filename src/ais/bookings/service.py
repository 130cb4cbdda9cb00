"""Booking rules: create with seats held atomically, read own bookings, cancel, the one
transition function (check-in is in `checkin.py`; cancelling a paid booking, which refunds it,
is the payments side's `ais.payments.cancellation`). Services never commit: the caller's unit of
work owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit import service as audit
from ais.audit.service import Actor
from ais.bookings import repository
from ais.bookings.identifiers import looks_like_reference, new_reference
from ais.bookings.models import Booking, BookingStatusChange, Passenger, PassengerType
from ais.bookings.notices import queue_booking_message
from ais.bookings.passenger_types import passenger_errors
from ais.bookings.presenters import local_departure_date
from ais.bookings.rules import (
    CANCELLABLE,
    HOLDING,
    NEEDS_CHARGE,
    BookingStatus,
    check_transition,
    releases_seats,
)
from ais.bookings.schemas import BookingCreate
from ais.cache.search_cache import invalidate_after_commit
from ais.db.base import utcnow
from ais.errors import (
    BookingConflict,
    BookingExpired,
    InternalError,
    InvalidStateTransition,
    NotFound,
    PaymentRequired,
    SeatsUnavailable,
    ValidationFailed,
)
from ais.flights.rules import SELLABLE_STATUSES, has_departed
from ais.ledger import service as ledger
from ais.money import Money, format_amount
from ais.ops.metrics import BOOKING_TRANSITIONS, SEATS_UNAVAILABLE

INFANT_FARE_PERCENT = 10  # a lap infant pays a tenth of the adult fare and takes no seat
BOOKING_CLOSES_BEFORE_DEPARTURE = timedelta(hours=1)


def seats_needed(passenger_types: list[PassengerType]) -> int:
    return sum(1 for kind in passenger_types if kind != PassengerType.INFANT)


def price(fare: Money, passenger_types: list[PassengerType]) -> Money:
    total = Money(0, fare.currency)
    for kind in passenger_types:
        total = total + (fare.percent(INFANT_FARE_PERCENT) if kind == PassengerType.INFANT else fare)
    return total


BeforeSeatsTaken = Callable[[Booking], Awaitable[None]]


async def create_booking(session: AsyncSession, *, user_id: uuid.UUID, request: BookingCreate,
                         hold_minutes: int, max_held_seats: int, actor: Actor,
                         before_seats_taken: BeforeSeatsTaken | None = None) -> Booking:
    """Hold seats and create a `reserved` booking whose hold lapses after `hold_minutes`.

    `before_seats_taken(booking)` runs with the complete booking (flight, passengers, history
    attached) just before the statement that takes its seats, again if a record-locator clash
    made it draw another reference: what the caller writes there (the idempotent answer) is then
    not written while the flight's hot cabin row is locked, which lasts from that statement to
    the commit and which every concurrent booking of the flight waits for.

    Raises NotFound (no such flight/cabin), ValidationFailed (passenger types that their dates of
    birth contradict, no adult, more infants than adults), BookingConflict (flight not bookable
    any more, or the user would hold more than `max_held_seats` seats in unpaid bookings),
    SeatsUnavailable (fewer seats left than passengers need). Nothing is written on error.
    One user's creations are serialised (their row is locked until the caller commits)."""
    flight, cabin = await repository.flight_and_cabin_locking_user(session, request.flight_id, request.cabin, user_id)
    if flight is None:
        raise NotFound("No such flight.")
    now = utcnow()
    if flight.status not in SELLABLE_STATUSES or flight.departure_at - BOOKING_CLOSES_BEFORE_DEPARTURE <= now:
        raise BookingConflict("This flight is no longer open for booking.",
                              details={"flightStatus": flight.status.value})
    errors = passenger_errors(request.passengers, departure_date=await local_departure_date(session, flight))
    if errors:
        raise ValidationFailed("The passengers are not valid for this booking.", details={"errors": errors})
    if cabin is None:
        raise NotFound("This flight has no such cabin.")
    kinds = [p.type for p in request.passengers]
    seats = seats_needed(kinds)
    if cabin.seats_available < seats:  # a cheap early answer; the atomic decrement below decides
        SEATS_UNAVAILABLE.inc()
        raise SeatsUnavailable(details={"requested": seats, "cabin": request.cabin.value})
    total = price(Money(cabin.fare_minor, cabin.currency), kinds)
    booking = Booking(
        id=uuid.uuid4(),
        reference=new_reference(),
        user_id=user_id,
        flight_id=flight.id,
        cabin_id=cabin.id,
        cabin_class=request.cabin,
        seat_count=seats,
        contact_email=str(request.contact_email).lower(),
        total_minor=total.minor_units,
        currency=total.currency,
        status=BookingStatus.RESERVED,
        expires_at=now + timedelta(minutes=hold_minutes),
        created_at=now,
        updated_at=now,
    )
    check_transition(BookingStatus.INITIATED, BookingStatus.RESERVED)
    passengers = [
        Passenger(id=uuid.uuid4(), booking_id=booking.id, position=i, first_name=p.first_name,
                  last_name=p.last_name, type=p.type, date_of_birth=p.date_of_birth, ticket_number=None,
                  seat_number=None, checkin_sequence=None)
        for i, p in enumerate(request.passengers)
    ]
    created = BookingStatusChange(id=uuid.uuid4(), booking_id=booking.id, from_status=BookingStatus.INITIATED,
                                  to_status=BookingStatus.RESERVED, reason=f"{seats} seat(s) held",
                                  actor=actor.label, at=now)
    # One statement counts the user's held seats, writes the booking and takes the seats; it locks
    # the hot cabin row, which concurrent bookings of the flight queue on, so it comes last: the
    # lock is held from there to the commit only. Refused → all rolls back.
    repository.attach_loaded(booking, flight=flight, passengers=passengers, history=[created])
    limit = repository.HoldLimit(HOLDING, max_held_seats, now)
    for _ in range(5):
        if before_seats_taken is not None:
            await before_seats_taken(booking)
        placed = await repository.place_booking(session, booking, passengers, created, limit)
        if placed.over(limit, seats):
            raise _over_hold_limit(placed.held_seats, seats, max_held_seats)
        if placed.inserted:
            break
        booking.reference = new_reference()  # a record-locator clash wrote nothing: draw again
    else:
        raise InternalError("Could not allocate a unique booking reference.")
    left = placed.seats_left
    if left is None:
        SEATS_UNAVAILABLE.inc()
        raise SeatsUnavailable(details={"requested": seats, "cabin": request.cabin.value})
    BOOKING_TRANSITIONS.labels(BookingStatus.RESERVED.value).inc()
    if left == 0:
        invalidate_after_commit(session)  # the last seat went to this booking
    return booking


def _over_hold_limit(held: int, seats: int, limit: int) -> BookingConflict:
    """SPEC §4: holds cannot be hoarded. Counted under the user's row lock (taken with the flight
    read and held until the caller commits), so two parallel requests of one user cannot both pass."""
    return BookingConflict(
        f"You can hold at most {limit} seats in unpaid bookings at once; you hold "
        f"{held} and asked for {seats}. Pay for or cancel a booking first.",
        details={"maxHeldSeats": limit, "heldSeats": held, "requestedSeats": seats},
    )


async def get_booking(session: AsyncSession, *, id_or_reference: str, user_id: uuid.UUID | None) -> Booking:
    """The booking by id or record locator. With `user_id`, another user's booking is NotFound:
    a passenger cannot even learn that it exists."""
    booking_id, reference = _identifier(id_or_reference)
    booking = await repository.find_booking(session, booking_id=booking_id, reference=reference, user_id=user_id)
    if booking is None:
        raise NotFound("No such booking.")
    return booking


async def lock_own_booking(session: AsyncSession, *, id_or_reference: str, user_id: uuid.UUID) -> Booking:
    """The user's booking (by id or record locator), locked and loaded for a status change
    (`repository.lock_booking`); NotFound, as from `get_booking`, unless it is theirs. One
    statement checks and locks."""
    booking_id, reference = _identifier(id_or_reference)
    booking = await repository.lock_own_booking(session, booking_id=booking_id, reference=reference,
                                                user_id=user_id)
    if booking is None:
        raise NotFound("No such booking.")
    return booking


def _identifier(id_or_reference: str) -> tuple[uuid.UUID | None, str | None]:
    """A path's booking identifier → (id, None) or (None, record locator); (None, None) names none."""
    try:
        return uuid.UUID(id_or_reference), None
    except ValueError:
        return None, (id_or_reference if looks_like_reference(id_or_reference) else None)


async def transition(session: AsyncSession, booking: Booking, target: BookingStatus, *, reason: str,
                     actor: Actor, late_payment: bool = False, **values: object) -> None:
    """The one way a booking changes status: guard, compare-and-set, history, seats.

    Raises InvalidStateTransition when the table forbids the move, or when another request
    moved the booking first (the database row is compared, not the copy in memory). Seats
    are given back exactly once, in the same transaction as the status change."""
    current = booking.status
    check_transition(current, target, late_payment=late_payment)
    if target in NEEDS_CHARGE:
        await _require_charge(session, booking)
    if not await repository.compare_and_set_status(session, booking, current, target, **values):
        raise InvalidStateTransition(
            "The booking was changed by another request; reload it.",
            details={"from": current.value, "to": target.value},
        )
    now = utcnow()
    session.add(BookingStatusChange(booking_id=booking.id, from_status=current, to_status=target,
                                    reason=reason, actor=actor.label, at=now))
    flight = booking.flight
    if releases_seats(current, target, before_departure=not has_departed(flight.status, flight.departure_at, now)):
        left = await repository.release_seats(session, booking.cabin_id, booking.seat_count)
        if left is None:
            # Only a double release can push a cabin over capacity: refuse, roll back, shout.
            raise InternalError("Seat release would exceed cabin capacity.")
        if left == booking.seat_count:
            invalidate_after_commit(session)  # a sold-out cabin has seats again: search must see them
    BOOKING_TRANSITIONS.labels(target.value).inc()


async def _require_charge(session: AsyncSession, booking: Booking) -> None:
    """The invariant: never paid or confirmed without a charge covering the total in the ledger.
    Read once per transaction and booking: ledger entries are only ever added, so a total covered
    once in a transaction stays covered until it ends (pending → paid → confirmed reads it once)."""
    covered = _covered_in_transaction(session)
    if booking.id in covered:
        return
    if await ledger.charged(session, booking.id) < booking.total_minor:
        raise PaymentRequired("No charge covering this booking is recorded in the ledger.")
    covered.add(booking.id)


def _covered_in_transaction(session: AsyncSession) -> set[uuid.UUID]:
    """The bookings whose charge this session's current transaction has read as covering them
    (a new transaction starts with none)."""
    transaction = session.sync_session.get_transaction()
    known = session.info.get("charge_covers")
    if known is None or known[0] is not transaction:
        known = session.info["charge_covers"] = (transaction, set())
    covered: set[uuid.UUID] = known[1]
    return covered


async def board(session: AsyncSession, booking: Booking, *, actor: Actor) -> None:
    """Gate: checked_in → boarded (InvalidStateTransition from any other state), audited."""
    await transition(session, booking, BookingStatus.BOARDED, reason="boarded at gate", actor=actor)
    audit.record(session, actor, action="booking.board", resource_type="booking", resource_id=str(booking.id),
                 changes={"status": ["checked_in", "boarded"]})


@dataclass(frozen=True, slots=True)
class CancellationRefund:
    """The refund that a cancellation of a paid booking recorded (by the payments side)."""

    id: uuid.UUID
    amount_minor: int
    currency: str


def check_cancellable(booking: Booking) -> bool:
    """Raise unless the passenger may cancel the booking now; True when it was paid (so the
    cancellation refunds it). After departure nothing is cancellable (BookingConflict): the seat
    was the passenger's to use; only staff may still refund. BookingExpired for a lapsed hold,
    InvalidStateTransition (with the allowed moves) for any other state."""
    flight = booking.flight
    if has_departed(flight.status, flight.departure_at, utcnow()):
        raise BookingConflict(
            "The flight has departed: the booking can no longer be cancelled or refunded.",
            details={"status": booking.status.value, "flightStatus": flight.status.value,
                     "departureTime": flight.departure_at.isoformat()},
        )
    if booking.status in HOLDING:
        return False
    if booking.status in CANCELLABLE:
        return True
    if booking.status == BookingStatus.EXPIRED:
        raise BookingExpired()
    check_transition(booking.status, BookingStatus.CANCELLED)  # raises with the allowed moves
    return False


async def cancel_unpaid_booking(session: AsyncSession, booking: Booking, *, actor: Actor, reason: str) -> None:
    """A held booking (not paid) → cancelled: the seats go back at once, no money moves. The booking
    must be locked and `check_cancellable` must have said it is unpaid."""
    previous = booking.status
    await transition(session, booking, BookingStatus.CANCELLED, reason=reason, actor=actor)
    await record_cancellation(session, booking, actor=actor, previous=previous, refund=None)


async def record_cancellation(session: AsyncSession, booking: Booking, *, actor: Actor, previous: BookingStatus,
                              refund: CancellationRefund | None) -> None:
    """The audit entry and the passenger's e-mail of a cancellation (with its refund, if paid)."""
    changes: dict[str, object] = {"status": [previous.value, BookingStatus.CANCELLED.value],
                                  "seatsReleased": booking.seat_count}
    if refund is not None:
        changes |= {"refundId": str(refund.id), "refundAmount": refund.amount_minor}
    audit.record(session, actor, action="booking.cancel", resource_type="booking", resource_id=str(booking.id),
                 changes=changes)
    await queue_booking_message(
        session, booking, "booking_cancelled",
        refund_amount=format_amount(refund.amount_minor, refund.currency) if refund is not None else None)
