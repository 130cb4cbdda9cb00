"""Publishing and changing flights (admin). Services never commit: the request's unit of work
does, and invalidates the search cache after that commit (registered here); every change writes
an audit entry in the same transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit.service import Actor, record
from ais.cache.search_cache import invalidate_after_commit
from ais.errors import BookingConflict, NotFound, ValidationFailed
from ais.flights import repository
from ais.flights.airports import airport_zones
from ais.flights.models import Cabin, Flight, FlightStatus
from ais.flights.presenters import flight_detail
from ais.flights.rules import check_flight_transition, check_times, times_editable
from ais.flights.schemas import CabinPatch, FlightCreate, FlightDetail, FlightPatch
from ais.flights.service import present_flight
from ais.money import MoneyError, format_amount, parse_amount


def _invalid(field: str, message: str) -> ValidationFailed:
    """A 422 whose details look like the framework's own field errors."""
    return ValidationFailed(details={"errors": [{"field": f"body.{field}", "message": message,
                                                 "type": "value_error"}]})


def _duplicate(flight_number: str, departure_at: datetime) -> BookingConflict:
    return BookingConflict(
        f"Flight {flight_number} already departs at {departure_at.isoformat()}.",
        details={"flightNumber": flight_number, "departureTime": departure_at.isoformat()},
    )


async def create_flight(session: AsyncSession, actor: Actor, data: FlightCreate) -> FlightDetail:
    """Publish a scheduled flight with its cabins (all seats available).

    Raises ValidationFailed for an airport we do not know, BookingConflict when the flight
    number already departs at that time (checked first, and again by the unique constraint
    for a concurrent duplicate)."""
    zones = await airport_zones(session, (data.from_, data.to))
    for field, code in (("from", data.from_), ("to", data.to)):
        if code not in zones:
            raise _invalid(field, f"unknown airport {code}")
    departure_at = data.departure_time.astimezone(UTC)
    arrival_at = data.arrival_time.astimezone(UTC)
    if await repository.flight_number_taken(session, data.flight_number, departure_at):
        raise _duplicate(data.flight_number, departure_at)

    flight = Flight(
        id=uuid.uuid4(), flight_number=data.flight_number, origin=data.from_, destination=data.to,
        departure_at=departure_at, arrival_at=arrival_at, status=FlightStatus.SCHEDULED,
        cabins=[
            Cabin(id=uuid.uuid4(), cabin_class=cabin.cabin, capacity=cabin.capacity,
                  seats_available=cabin.capacity, fare_minor=cabin.fare_minor, currency=cabin.currency)
            for cabin in data.cabins
        ],
    )
    session.add(flight)
    try:
        await session.flush()
    except IntegrityError:  # the transaction is unusable now: the unit of work rolls it back
        raise _duplicate(data.flight_number, departure_at) from None
    record(session, actor, action="flight.create", resource_type="flight", resource_id=str(flight.id),
           changes=data.model_dump(mode="json", by_alias=True))
    invalidate_after_commit(session)
    return flight_detail(flight, zones)


async def update_flight(
    session: AsyncSession, actor: Actor, flight_id: uuid.UUID, patch: FlightPatch
) -> FlightDetail:
    """Change status, times, fares and capacity of one flight, all or nothing.

    - status follows `rules.FLIGHT_TRANSITIONS` (else InvalidStateTransition);
    - times only while the flight is scheduled or delayed (else BookingConflict);
    - capacity never drops below the seats sold or held: one atomic UPDATE, refused with
      BookingConflict otherwise; seats_available is never read-modify-written, so bookings
      that take seats meanwhile are kept.
    Raises NotFound for an unknown flight, ValidationFailed for a cabin the flight lacks or a
    price with more decimals than its currency has."""
    flight = await repository.flight_with_cabins(session, flight_id, for_update=True)
    if flight is None:
        raise NotFound("No such flight.")
    changes: dict[str, Any] = {}
    flight_values: dict[str, Any] = {}

    if patch.status is not None and patch.status != flight.status:
        check_flight_transition(flight.status, patch.status)
        flight_values["status"] = patch.status
        changes["status"] = {"from": flight.status.value, "to": patch.status.value}

    if patch.departure_time is not None or patch.arrival_time is not None:
        flight_values.update(await _new_times(session, flight, patch))
        for field, column in (("departureTime", "departure_at"), ("arrivalTime", "arrival_at")):
            if column in flight_values:
                changes[field] = {"from": getattr(flight, column).isoformat(),
                                  "to": flight_values[column].isoformat()}

    cabin_plan = [(_cabin_of(flight, index, item), item) for index, item in enumerate(patch.cabins or [])]
    try:
        if flight_values and not await repository.set_flight_fields(
            session, flight.id, expected_status=flight.status, values=flight_values
        ):
            raise BookingConflict("The flight changed meanwhile; read it again and retry.")
        for index, (cabin, item) in enumerate(cabin_plan):
            changes.setdefault("cabins", {})[cabin.cabin_class.value] = await _update_cabin(
                session, cabin, item, index
            )
    except IntegrityError:
        # Only a concurrent change can get here (a duplicate departure slot); the route rolls back.
        raise BookingConflict("The flight changed meanwhile; read it again and retry.") from None

    if changes:  # a PATCH that restates the current values changed nothing worth recording
        record(session, actor, action="flight.update", resource_type="flight", resource_id=str(flight.id),
               changes=changes)
    invalidate_after_commit(session)
    updated = await repository.flight_with_cabins(session, flight.id)
    assert updated is not None  # locked above (PostgreSQL) and flights are never deleted
    return await present_flight(session, updated)


async def _new_times(session: AsyncSession, flight: Flight, patch: FlightPatch) -> dict[str, datetime]:
    if not times_editable(flight.status) or (patch.status is not None and not times_editable(patch.status)):
        raise BookingConflict(f"The times of a {(patch.status or flight.status).value} flight cannot change.")
    departure_at = (patch.departure_time or flight.departure_at).astimezone(UTC)
    arrival_at = (patch.arrival_time or flight.arrival_at).astimezone(UTC)
    try:
        check_times(departure_at, arrival_at)
    except ValueError as exc:
        raise _invalid("arrivalTime" if patch.arrival_time else "departureTime", str(exc)) from None
    if departure_at != flight.departure_at and await repository.flight_number_taken(
        session, flight.flight_number, departure_at, excluding=flight.id
    ):
        raise _duplicate(flight.flight_number, departure_at)
    values: dict[str, datetime] = {}
    if departure_at != flight.departure_at:
        values["departure_at"] = departure_at
    if arrival_at != flight.arrival_at:
        values["arrival_at"] = arrival_at
    return values


def _cabin_of(flight: Flight, index: int, item: CabinPatch) -> Cabin:
    for cabin in flight.cabins:
        if cabin.cabin_class == item.cabin:
            return cabin
    raise _invalid(f"cabins.{index}.cabin", f"this flight has no {item.cabin.value} cabin")


async def _update_cabin(session: AsyncSession, cabin: Cabin, item: CabinPatch, index: int) -> dict[str, Any]:
    change: dict[str, Any] = {}
    if item.price is not None:
        currency = item.currency or cabin.currency
        try:
            fare_minor = parse_amount(item.price, currency)
        except MoneyError as exc:
            raise _invalid(f"cabins.{index}.price", str(exc)) from None
        await repository.set_fare(session, cabin.id, fare_minor=fare_minor, currency=currency)
        change["price"] = {"from": f"{format_amount(cabin.fare_minor, cabin.currency)} {cabin.currency}",
                           "to": f"{format_amount(fare_minor, currency)} {currency}"}
    if item.capacity is not None and item.capacity != cabin.capacity:
        if not await repository.set_capacity(session, cabin.id, item.capacity):
            taken = await repository.seats_taken(session, cabin.id)
            raise BookingConflict(
                f"The {cabin.cabin_class.value} cabin has {taken} seats sold or held; "
                f"its capacity cannot drop to {item.capacity}.",
                details={"cabin": cabin.cabin_class.value, "requestedCapacity": item.capacity,
                         "seatsSoldOrHeld": taken},
            )
        change["capacity"] = {"from": cabin.capacity, "to": item.capacity}
    return change
