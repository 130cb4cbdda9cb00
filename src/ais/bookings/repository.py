"""All SQL of the bookings domain. Seat counts change only through atomic statements."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import Select, Table, bindparam, exists, func, insert, select, union_all, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ais.bookings.models import Booking, BookingStatusChange, Passenger
from ais.bookings.rules import BookingStatus
from ais.db.base import utcnow
from ais.db.engine import on_postgresql
from ais.db.keyset import newest_first_page
from ais.db.upsert import insert_if_absent
from ais.flights.models import Cabin, CabinClass, Flight, FlightStatus
from ais.identity.models import User

_Selecting = TypeVar("_Selecting", bound=Select)  # a select of any columns or entities


class BookableCabin(NamedTuple):
    id: uuid.UUID
    seats_available: int
    fare_minor: int
    currency: str


# The creation path's statements are built once (Core, or ORM for the one entity it loads): a
# booking then costs no statement construction and no cache-key traversal, only the execution.
_FLIGHT_AND_CABIN_LOCKING_USER = (
    select(Flight, Cabin.id, Cabin.seats_available, Cabin.fare_minor, Cabin.currency)
    .select_from(Flight)
    .join(User, User.id == bindparam("user_id"))
    .outerjoin(Cabin, (Cabin.flight_id == Flight.id) & (Cabin.cabin_class == bindparam("cabin_class")))
    .where(Flight.id == bindparam("flight_id"))
    .with_for_update(of=User.__table__, key_share=True)
)


async def flight_and_cabin_locking_user(session: AsyncSession, flight_id: uuid.UUID, cabin_class: CabinClass,
                                        user_id: uuid.UUID) -> tuple[Flight | None, BookableCabin | None]:
    """The flight a new booking is for and its cabin of `cabin_class` (None when it has none), in
    one statement that also locks the user's row until this transaction ends, so that one user's
    booking creations run one after another (on PostgreSQL; SQLite has one writer anyway) and a
    limit counted over their bookings afterwards (`seats_held_by`, a statement of its own, which
    sees what the previous holder of the lock committed) cannot be passed by two requests at
    once. `FOR NO KEY UPDATE OF users`, not `FOR UPDATE`: rows that merely reference the user
    (tokens, idempotency records) are not blocked. (None, None) when there is no such flight."""
    row = (await session.execute(_FLIGHT_AND_CABIN_LOCKING_USER,
                                 {"flight_id": flight_id, "cabin_class": cabin_class, "user_id": user_id})).first()
    if row is None:
        return None, None
    flight, cabin_id, seats_available, fare_minor, currency = row
    if cabin_id is None:
        return flight, None
    return flight, BookableCabin(cabin_id, seats_available, fare_minor, currency)


_cabins = cast(Table, Cabin.__table__)
_TAKE_SEATS = (
    update(_cabins)
    .where(_cabins.c.id == bindparam("cabin_id"), _cabins.c.seats_available >= bindparam("count"))
    .values(seats_available=_cabins.c.seats_available - bindparam("count"))
    .returning(_cabins.c.seats_available)
)


async def take_seats(session: AsyncSession, cabin_id: uuid.UUID, count: int) -> int | None:
    """Decrement seats only if enough are left, in one statement: no row is read first, so two
    concurrent bookings can never both see the last seat. Returns the seats left, or None."""
    result = await session.execute(_TAKE_SEATS, {"cabin_id": cabin_id, "count": count})
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


_bookings = cast(Table, Booking.__table__)
_SEATS_HELD = (
    select(func.coalesce(func.sum(_bookings.c.seat_count), 0))
    .where(_bookings.c.user_id == bindparam("user_id"),
           _bookings.c.status.in_(bindparam("statuses", expanding=True)),
           _bookings.c.expires_at > bindparam("now"))
)


async def seats_held_by(session: AsyncSession, user_id: uuid.UUID, statuses: frozenset[BookingStatus],
                        now: datetime) -> int:
    """Seats of the user's bookings in `statuses` whose hold has not lapsed yet."""
    held = await session.scalar(_SEATS_HELD, {"user_id": user_id, "statuses": sorted(statuses), "now": now})
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
    session: AsyncSession, booking: Booking, current: BookingStatus, target: BookingStatus,
    **values: object,
) -> bool:
    """Move the booking only if it is still in `current`: of two racing transitions, one wins.
    The loaded `booking` then shows what the statement wrote, as loaded values: the session has
    nothing left to write for it (an ORM update of the same columns would follow otherwise)."""
    values = {"status": target, **values, "updated_at": utcnow()}
    result = await session.execute(_status_update(tuple(sorted(values))),
                                   {**values, "booking_id": booking.id, "current": current})
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    for key, value in values.items():
        set_committed_value(booking, key, value)
    return True


@functools.cache
def _status_update(columns: tuple[str, ...]) -> Any:
    """Built once per set of columns written: a Core statement (every status change runs one),
    which also skips the ORM's synchronising of the session that an ORM update does."""
    bookings = cast(Table, Booking.__table__)
    return (update(bookings)
            .where(bookings.c.id == bindparam("booking_id"), bookings.c.status == bindparam("current"))
            .values({name: bindparam(name, type_=bookings.c[name].type) for name in columns}))


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


def for_status_change(statement: _Selecting) -> _Selecting:
    """`statement`, which selects bookings, locking each booking's row for this transaction (on
    PostgreSQL), so that concurrent events and refunds of one booking run one after another, and
    loading what a status change needs with it: its flight and passengers, joined (one statement).
    Not its history, which no status change reads (a caller that shows the booking reads it again,
    `booking_with_details`). The result needs `.unique()` (a row per passenger)."""
    return cast(_Selecting, statement.with_for_update(of=Booking)
                .options(joinedload(Booking.flight, innerjoin=True), joinedload(Booking.passengers))
                .execution_options(populate_existing=True))


async def lock_booking(session: AsyncSession, booking_id: uuid.UUID) -> Booking | None:
    """The booking, locked, with what a status change needs (`for_status_change`)."""
    result = await session.scalars(_lock_booking_statement(), {"booking_id": booking_id})
    return result.unique().one_or_none()


@functools.cache
def _lock_booking_statement() -> Any:  # built on first use, once the mappers are configured
    return for_status_change(select(Booking).where(Booking.id == bindparam("booking_id")))


async def find_booking(session: AsyncSession, *, booking_id: uuid.UUID | None = None,
                       reference: str | None = None, user_id: uuid.UUID | None = None) -> Booking | None:
    """By id or record locator; when `user_id` is given, only that user's booking is found."""
    statement = _named(select(Booking), booking_id, reference, user_id)
    if statement is None:
        return None
    return await session.scalar(statement.options(*_with_details()).execution_options(populate_existing=True))


async def lock_own_booking(session: AsyncSession, *, booking_id: uuid.UUID | None, reference: str | None,
                           user_id: uuid.UUID) -> Booking | None:
    """`lock_booking` by id or record locator, only if the booking is `user_id`'s: the ownership
    check and the lock in one statement (a row of another user is neither returned nor locked)."""
    key: uuid.UUID | str  # the same choice as `_named`'s, on a statement built once
    if booking_id is not None:
        statement, key = _lock_own_statement(by_reference=False), booking_id
    elif reference is not None:
        statement, key = _lock_own_statement(by_reference=True), reference.upper()
    else:
        return None
    result = await session.scalars(statement, {"key": key, "user_id": user_id})
    return result.unique().one_or_none()


@functools.cache
def _lock_own_statement(by_reference: bool) -> Any:
    named = Booking.reference if by_reference else Booking.id
    return for_status_change(select(Booking).where(named == bindparam("key"),
                                                   Booking.user_id == bindparam("user_id")))


def _named(statement: Select[Any], booking_id: uuid.UUID | None, reference: str | None,
           user_id: uuid.UUID | None) -> Select[Any] | None:
    """The booking with this id, else this record locator (None: neither given), of `user_id` if given."""
    if booking_id is not None:
        statement = statement.where(Booking.id == booking_id)
    elif reference is not None:
        statement = statement.where(Booking.reference == reference.upper())
    else:
        return None
    if user_id is not None:
        statement = statement.where(Booking.user_id == user_id)
    return statement


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



_passengers = cast(Table, Passenger.__table__)
_history = cast(Table, BookingStatusChange.__table__)
_PASSENGER_COLUMNS = ("id", "booking_id", "position", "first_name", "last_name", "type", "date_of_birth")
_BOOKING_COLUMNS = tuple(column.key for column in _bookings.columns)
_HISTORY_COLUMNS = ("id", "booking_id", "from_status", "to_status", "reason", "actor", "at")


class HoldLimit(NamedTuple):
    """SPEC §4: a user holds at most `max_seats` seats in bookings in `statuses` whose hold has not
    lapsed at `now`."""

    statuses: frozenset[BookingStatus]
    max_seats: int
    now: datetime


class Placed(NamedTuple):
    """What `place_booking` did: `held_seats` is what the user held already (the booking was
    refused when that plus its seats is over the limit: nothing was written); otherwise `inserted`
    False when the record locator was taken (nothing was written); `seats_left` None when the
    seats were not there (the caller rolls back)."""

    inserted: bool
    seats_left: int | None
    held_seats: int

    def over(self, limit: HoldLimit, seats: int) -> bool:
        return self.held_seats + seats > limit.max_seats


@functools.cache
def _place_booking_statement(passenger_count: int) -> Any:
    """PostgreSQL: the hold-limit count, the booking, its passengers, its first history row and the
    seat decrement in one statement (one round trip). The booking is inserted only while the user's
    held seats leave room for it, and `ON CONFLICT (reference) DO NOTHING`; the other rows are
    inserted from its RETURNING and the cabin is decremented only when it was inserted, so a
    refusal or a reference clash writes nothing and takes no seat. The count sees every booking
    committed before the statement began, which is after the caller locked the user's row."""
    held = (
        select(func.coalesce(func.sum(_bookings.c.seat_count), 0).label("seats"))
        .where(_bookings.c.user_id == bindparam("b_user_id"),
               _bookings.c.status.in_(bindparam("holding", expanding=True)),
               _bookings.c.expires_at > bindparam("now"))
        .cte("held")
    )
    booking_row = select(*[bindparam(f"b_{column.key}", type_=column.type) for column in _bookings.columns]).where(
        select(held.c.seats).scalar_subquery() + bindparam("b_seat_count") <= bindparam("max_held_seats"))
    new = (
        postgresql.insert(_bookings)
        .from_select([column.key for column in _bookings.columns], booking_row)
        .on_conflict_do_nothing(index_elements=["reference"])
        .returning(_bookings.c.id)
        .cte("new_booking")
    )

    def row_of(table: Table, columns: tuple[str, ...], prefix: str) -> Any:
        return select(*[new.c.id if name == "booking_id" else bindparam(f"{prefix}_{name}", type_=table.c[name].type)
                        for name in columns]).select_from(new)

    rows = [row_of(_passengers, _PASSENGER_COLUMNS, f"p{i}") for i in range(passenger_count)]
    new_passengers = insert(_passengers).from_select(
        list(_PASSENGER_COLUMNS), union_all(*rows) if len(rows) > 1 else rows[0]).cte("new_passengers")
    new_history = insert(_history).from_select(
        list(_HISTORY_COLUMNS), row_of(_history, _HISTORY_COLUMNS, "h")).cte("new_history")
    taken = (
        update(_cabins)
        .where(_cabins.c.id == bindparam("cabin_id"), _cabins.c.seats_available >= bindparam("seats"),
               exists(select(new.c.id)))
        .values(seats_available=_cabins.c.seats_available - bindparam("seats"))
        .returning(_cabins.c.seats_available)
        .cte("taken")
    )
    return select(select(func.count()).select_from(new).scalar_subquery(),
                  select(taken.c.seats_available).scalar_subquery(),
                  select(held.c.seats).scalar_subquery()).add_cte(new_passengers, new_history)


def _values(row: Any, columns: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in columns}


async def place_booking(session: AsyncSession, booking: Booking, passengers: list[Passenger],
                        history: BookingStatusChange, limit: HoldLimit) -> Placed:
    """Unless the user would hold more than `limit` with it, INSERT the booking row with its
    passengers and first history row, and take its seats (`take_seats`). The caller must hold the
    user's row lock (`flight_and_cabin_locking_user`), so that the count sees the user's previous
    bookings. Without a savepoint: `ON CONFLICT (reference) DO NOTHING` reports a record-locator
    clash instead of aborting the transaction. One statement on PostgreSQL: the hot cabin row is
    locked by the last statement before the commit, inside it; on SQLite (no data-modifying WITH;
    one writer anyway) the count, the booking, its rows, then the seats. Every object must carry
    its id; they are not added to the session (the caller presents them as they are)."""
    booking_values = _values(booking, _BOOKING_COLUMNS)
    holding = sorted(limit.statuses)
    if on_postgresql(session):
        parameters = {f"b_{key}": value for key, value in booking_values.items()}
        for i, passenger in enumerate(passengers):
            parameters |= {f"p{i}_{key}": getattr(passenger, key) for key in _PASSENGER_COLUMNS if key != "booking_id"}
        parameters |= {f"h_{key}": getattr(history, key) for key in _HISTORY_COLUMNS if key != "booking_id"}
        parameters |= {"cabin_id": booking.cabin_id, "seats": booking.seat_count, "holding": holding,
                       "now": limit.now, "max_held_seats": limit.max_seats}
        inserted, left, held = (await session.execute(_place_booking_statement(len(passengers)), parameters)).one()
        return Placed(bool(inserted), left, int(held))
    held = await seats_held_by(session, booking.user_id, limit.statuses, limit.now)
    if held + booking.seat_count > limit.max_seats:
        return Placed(False, None, held)
    if not await insert_if_absent(session, _bookings, booking_values, ["reference"]):
        return Placed(False, None, held)
    await session.execute(insert(_passengers), [_values(passenger, _PASSENGER_COLUMNS) for passenger in passengers])
    await session.execute(insert(_history), [_values(history, _HISTORY_COLUMNS)])
    return Placed(True, await take_seats(session, booking.cabin_id, booking.seat_count), held)


def attach_loaded(booking: Booking, *, flight: Flight, passengers: list[Passenger],
                  history: list[BookingStatusChange]) -> None:
    """Give a just-created booking its related rows as already-loaded values (they are pending
    in the session), so presenting it needs no query and nothing lazy-loads."""
    set_committed_value(booking, "flight", flight)
    set_committed_value(booking, "passengers", passengers)
    set_committed_value(booking, "history", history)
