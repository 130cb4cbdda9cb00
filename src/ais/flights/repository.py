"""All SQL of the flights domain. Seat counters change only through atomic expressions."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ais.db import raw
from ais.db.engine import on_postgresql
from ais.db.upsert import insert_ignore
from ais.flights.models import Airport, Cabin, CabinClass, Flight, FlightStatus

# A safety cap on one route-day; real schedules have a handful of departures.
MAX_OFFERS = 200


class OfferRow(NamedTuple):
    flight_id: uuid.UUID
    flight_number: str
    origin: str
    destination: str
    departure_at: datetime
    arrival_at: datetime
    fare_minor: int
    currency: str
    seats_available: int


_flights = cast(Table, Flight.__table__)
_cabins = cast(Table, Cabin.__table__)


@functools.cache
def _offers_statement(statuses: frozenset[FlightStatus]) -> Any:
    """Built once per status set, in Core (a search then costs no statement construction, no
    cache-key traversal, no ORM compile step and no expanding IN to render: the statuses are
    plain ORed parameters)."""
    flights, cabins = _flights.c, _cabins.c
    return (
        select(flights.id, flights.flight_number, flights.origin, flights.destination, flights.departure_at,
               flights.arrival_at, cabins.fare_minor, cabins.currency, cabins.seats_available)
        .select_from(_flights.join(_cabins, (cabins.flight_id == flights.id)
                                   & (cabins.cabin_class == bindparam("cabin", type_=cabins.cabin_class.type))))
        .where(
            flights.origin == bindparam("origin"),
            flights.destination == bindparam("destination"),
            flights.departure_at >= bindparam("departs_from"),
            flights.departure_at < bindparam("departs_before"),
            or_(*(flights.status == status for status in sorted(statuses))),
            cabins.seats_available >= bindparam("min_seats"),
        )
        .order_by(flights.departure_at, flights.flight_number)
        .limit(MAX_OFFERS)
    )


async def find_offers(
    session: AsyncSession,
    *,
    origin: str,
    destination: str,
    departs_from: datetime,
    departs_before: datetime,
    cabin: CabinClass,
    min_seats: int,
    statuses: Collection[FlightStatus],
) -> list[OfferRow]:
    """One query, flights joined to the one cabin asked for; served by ix_flights_route_departure.
    On PostgreSQL on the raw driver (`ais.db.raw`): search's one query, its busiest."""
    statement = _offers_statement(frozenset(statuses))
    params = {"cabin": cabin, "origin": origin, "destination": destination, "departs_from": departs_from,
              "departs_before": departs_before, "min_seats": min_seats}
    if on_postgresql(session):
        rows: Sequence[Sequence[Any]] = await raw.fetch_all(await session.connection(), statement, params)
    else:
        rows = (await session.execute(statement, params)).all()
    return [OfferRow(*row) for row in rows]


async def flight_with_cabins(
    session: AsyncSession, flight_id: uuid.UUID, *, for_update: bool = False
) -> Flight | None:
    """The flight and its cabins, fresh from the database (the identity map is overwritten).

    `for_update` takes FOR NO KEY UPDATE on the flight row: it serialises admin edits of one
    flight but does not block bookings, whose foreign keys only take KEY SHARE on it."""
    statement = (
        select(Flight)
        .where(Flight.id == flight_id)
        .options(selectinload(Flight.cabins))
        .execution_options(populate_existing=True)
    )
    if for_update:
        statement = statement.with_for_update(key_share=True)
    return await session.scalar(statement)


async def flight_number_taken(session: AsyncSession, flight_number: str, departure_at: datetime,
                              *, excluding: uuid.UUID | None = None) -> bool:
    condition = (Flight.flight_number == flight_number) & (Flight.departure_at == departure_at)
    if excluding is not None:
        condition &= Flight.id != excluding
    return bool(await session.scalar(select(exists().where(condition))))


async def any_flight_exists(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().where(Flight.id.is_not(None)))))


async def airport_timezones(session: AsyncSession, codes: Collection[str]) -> dict[str, str]:
    """IATA code → IANA time zone name, for the codes that exist."""
    if not codes:
        return {}
    statement = select(Airport.code, Airport.timezone).where(Airport.code.in_(list(codes)))
    result = await session.execute(statement)
    return {code: timezone for code, timezone in result.all()}


class AirportRow(NamedTuple):
    code: str
    name: str
    city: str
    country: str
    timezone: str


_AIRPORT_COLUMNS = (Airport.code, Airport.name, Airport.city, Airport.country, Airport.timezone)


async def all_airports(session: AsyncSession) -> list[AirportRow]:
    result = await session.execute(select(*_AIRPORT_COLUMNS).order_by(Airport.code))
    return [AirportRow(*row) for row in result.all()]


async def airports_by_code(session: AsyncSession, codes: Collection[str]) -> list[AirportRow]:
    """The airports among `codes` (one primary-key lookup)."""
    if not codes:
        return []
    result = await session.execute(select(*_AIRPORT_COLUMNS).where(Airport.code.in_(list(codes))))
    return [AirportRow(*row) for row in result.all()]


async def set_flight_fields(session: AsyncSession, flight_id: uuid.UUID, *, expected_status: FlightStatus,
                            values: dict[str, Any]) -> bool:
    """Compare-and-set on status: False when someone else changed the status meanwhile."""
    result = await session.execute(
        update(Flight)
        .where(Flight.id == flight_id, Flight.status == expected_status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def set_fare(session: AsyncSession, cabin_id: uuid.UUID, *, fare_minor: int, currency: str) -> None:
    await session.execute(
        update(Cabin)
        .where(Cabin.id == cabin_id)
        .values(fare_minor=fare_minor, currency=currency)
        .execution_options(synchronize_session=False)
    )


async def set_capacity(session: AsyncSession, cabin_id: uuid.UUID, new_capacity: int) -> bool:
    """Resize a cabin in one statement, keeping sold/held seats (capacity - seats_available)
    intact while bookings decrement seats_available concurrently. False when the new capacity
    is below the seats already sold or held (nothing changes then)."""
    result = await session.execute(
        update(Cabin)
        .where(Cabin.id == cabin_id, Cabin.capacity - Cabin.seats_available <= new_capacity)
        .values(
            capacity=new_capacity,
            seats_available=Cabin.seats_available + (new_capacity - Cabin.capacity),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def seats_taken(session: AsyncSession, cabin_id: uuid.UUID) -> int:
    """Seats sold or held right now (for explaining a refused resize)."""
    taken = await session.scalar(select(Cabin.capacity - Cabin.seats_available).where(Cabin.id == cabin_id))
    return int(taken or 0)


async def insert_airports(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Reference data: rows that already exist are left as they are."""
    if rows:
        statement = insert_ignore(session, Airport.__table__).values(list(rows))
        await session.execute(statement.on_conflict_do_nothing(index_elements=["code"]))


async def insert_flights(session: AsyncSession, flights: Sequence[dict[str, Any]],
                         cabins: Sequence[dict[str, Any]]) -> None:
    """ORM bulk insert (batched multi-row VALUES): no unit of work, no identity map, for
    hundreds of rows; keys are attribute names, column defaults apply."""
    if flights:
        await session.execute(insert(Flight), list(flights))
    if cabins:
        await session.execute(insert(Cabin), list(cabins))
