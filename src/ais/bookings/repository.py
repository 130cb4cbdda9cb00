"""All SQL of the bookings domain. Seat counts change only through atomic statements."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ais.bookings.models import Booking, BookingStatusChange, Passenger
from ais.bookings.rules import BookingStatus
from ais.db.base import utcnow
from ais.db.keyset import newest_first_page
from ais.db.upsert import insert_if_absent
from ais.errors import InternalError
from ais.flights.models import Cabin, CabinClass, Flight, FlightStatus
from ais.identity.models import User


async def flight_to_book(session: AsyncSession, flight_id: uuid.UUID) -> Flight | None:
    """The flight a new booking is for (its cabins are read by `cabin_of_flight`)."""
    return await session.get(Flight, flight_id)


async def cabin_of_flight(session: AsyncSession, flight_id: uuid.UUID, cabin_class: CabinClass) -> Cabin | None:
    return await session.scalar(
        select(Cabin).where(Cabin.flight_id == flight_id, Cabin.cabin_class == cabin_class)
    )


async def take_seats(session: AsyncSession, cabin_id: uuid.UUID, count: int) -> int | None:
    """Decrement seats only if enough are left, in one statement: no row is read first, so two
    concurrent bookings can never both see the last seat. Returns the seats left, or None."""
    result = await session.execute(
        update(Cabin)
        .where(Cabin.id == cabin_id, Cabin.seats_available >= count)
        .values(seats_available=Cabin.seats_available - count)
        .returning(Cabin.seats_available)
    )
    return result.scalar_one_or_none()


async def release_seats(session: AsyncSession, cabin_id: uuid.UUID, count: int) -> int | None:
    """Give seats back; refuses to go above capacity (that would mean a double release).
    Returns the seats now available, or None when refused."""
    result = await session.execute(
        update(Cabin)
        .where(Cabin.id == cabin_id, Cabin.seats_available + count <= Cabin.capacity)
        .values(seats_available=Cabin.seats_available + count)
        .returning(Cabin.seats_available)
    )
    return result.scalar_one_or_none()


async def serialise_bookings_of(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Lock the user's row until this transaction ends, so that one user's booking creations run
    one after another (on PostgreSQL; SQLite has one writer anyway) and a limit counted over
    their bookings cannot be passed by two requests at once. `FOR NO KEY UPDATE`, not `FOR
    UPDATE`: rows that merely reference the user (tokens, idempotency records) are not blocked."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))


async def seats_held_by(session: AsyncSession, user_id: uuid.UUID, statuses: frozenset[BookingStatus],
                        now: datetime) -> int:
    """Seats of the user's bookings in `statuses` whose hold has not lapsed yet."""
    held = await session.scalar(
        select(func.coalesce(func.sum(Booking.seat_count), 0))
        .where(Booking.user_id == user_id, Booking.status.in_(statuses), Booking.expires_at > now)
    )
    return int(held or 0)


async def next_checkin_sequences(session: AsyncSession, cabin_id: uuid.UUID, count: int) -> range:
    result = await session.execute(
        update(Cabin)
        .where(Cabin.id == cabin_id)
        .values(checkin_sequence=Cabin.checkin_sequence + count)
        .returning(Cabin.checkin_sequence)
    )
    last = result.scalar_one()
    return range(last - count + 1, last + 1)


async def compare_and_set_status(
    session: AsyncSession, booking_id: uuid.UUID, current: BookingStatus, target: BookingStatus,
    **values: object,
) -> bool:
    """Move the booking only if it is still in `current`: of two racing transitions, one wins."""
    result = await session.execute(
        update(Booking)
        .where(Booking.id == booking_id, Booking.status == current)
        .values(status=target, updated_at=utcnow(), **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _with_details():  # type: ignore[no-untyped-def]
    return (
        selectinload(Booking.passengers),
        selectinload(Booking.history),
        selectinload(Booking.flight),
    )


async def booking_with_details(session: AsyncSession, booking_id: uuid.UUID) -> Booking | None:
    return await session.scalar(
        select(Booking).where(Booking.id == booking_id).options(*_with_details())
        .execution_options(populate_existing=True)
    )


async def lock_booking(session: AsyncSession, booking_id: uuid.UUID) -> Booking | None:
    """The booking with everything a status change needs, locked for this transaction (on
    PostgreSQL) so that concurrent events and refunds of one booking run one after another."""
    return await session.scalar(
        select(Booking).where(Booking.id == booking_id).with_for_update(of=Booking)
        .options(joinedload(Booking.flight, innerjoin=True), selectinload(Booking.passengers),
                 selectinload(Booking.history))
        .execution_options(populate_existing=True)
    )


async def find_booking(session: AsyncSession, *, booking_id: uuid.UUID | None = None,
                       reference: str | None = None, user_id: uuid.UUID | None = None) -> Booking | None:
    """By id or record locator; when `user_id` is given, only that user's booking is found."""
    statement = select(Booking).options(*_with_details()).execution_options(populate_existing=True)
    if booking_id is not None:
        statement = statement.where(Booking.id == booking_id)
    elif reference is not None:
        statement = statement.where(Booking.reference == reference.upper())
    else:
        return None
    if user_id is not None:
        statement = statement.where(Booking.user_id == user_id)
    return await session.scalar(statement)


async def list_bookings(
    session: AsyncSession, *, user_id: uuid.UUID | None = None, status: BookingStatus | None = None,
    flight_id: uuid.UUID | None = None, reference: str | None = None,
    after: tuple[datetime, uuid.UUID] | None = None, limit: int = 20,
) -> list[Booking]:
    """Newest first; keyset pagination on (created_at, id)."""
    statement = select(Booking).options(*_with_details())
    if user_id is not None:
        statement = statement.where(Booking.user_id == user_id)
    if status is not None:
        statement = statement.where(Booking.status == status)
    if flight_id is not None:
        statement = statement.where(Booking.flight_id == flight_id)
    if reference is not None:
        statement = statement.where(Booking.reference == reference.upper())
    return list((await session.scalars(newest_first_page(statement, Booking, after, limit))).all())


async def stale_hold_ids(session: AsyncSession, statuses: frozenset[BookingStatus], now: datetime,
                         limit: int) -> list[uuid.UUID]:
    result = await session.scalars(
        select(Booking.id)
        .where(Booking.status.in_(statuses), Booking.expires_at < now)
        .order_by(Booking.expires_at)
        .limit(limit)
    )
    return list(result.all())


async def departed_booking_ids(session: AsyncSession, status: BookingStatus, *, departed_before: datetime,
                               arrived_before: datetime, limit: int) -> list[uuid.UUID]:
    """Bookings in `status` whose flight has left (confirmed, checked_in) or landed (boarded).
    A cancelled flight never left: its passengers are not no-shows."""
    time_column = Flight.arrival_at if status == BookingStatus.BOARDED else Flight.departure_at
    cutoff = arrived_before if status == BookingStatus.BOARDED else departed_before
    result = await session.scalars(
        select(Booking.id)
        .join(Flight, Flight.id == Booking.flight_id)
        .where(Booking.status == status, time_column < cutoff, Flight.status != FlightStatus.CANCELLED)
        .limit(limit)
    )
    return list(result.all())



async def insert_with_unique_reference(session: AsyncSession, booking: Booking,
                                       new_reference: Callable[[], str]) -> None:
    """INSERT the booking row, drawing a new record locator on the (rare) collision, without a
    savepoint: `ON CONFLICT (reference) DO NOTHING` reports a clash instead of aborting the
    transaction. The object then joins the session as the persistent row it now is."""
    columns = [column.key for column in Booking.__table__.columns]
    for _ in range(5):
        values = {key: getattr(booking, key) for key in columns}
        if await insert_if_absent(session, Booking.__table__, values, ["reference"]):
            make_transient_to_detached(booking)
            session.add(booking)
            return
        booking.reference = new_reference()
    raise InternalError("Could not allocate a unique booking reference.")


def attach_loaded(booking: Booking, *, flight: Flight, passengers: list[Passenger],
                  history: list[BookingStatusChange]) -> None:
    """Give a just-created booking its related rows as already-loaded values (they are pending
    in the session), so presenting it needs no query and nothing lazy-loads."""
    set_committed_value(booking, "flight", flight)
    set_committed_value(booking, "passengers", passengers)
    set_committed_value(booking, "history", history)
