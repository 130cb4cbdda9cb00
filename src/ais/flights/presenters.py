"""Flights as the API shows them: money as decimal strings, times with each airport's offset.

Pure functions over loaded rows; the caller supplies the airport zones
(`ais.flights.airports.airport_zones`), so nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from ais.flights.models import Cabin, CabinClass, Flight
from ais.flights.repository import OfferRow
from ais.flights.schemas import CabinOut, FlightDetail, FlightOffer, FlightSummary
from ais.money import format_amount

Zones = Mapping[str, tzinfo]
# Cabins are listed in enum order (economy, then business), whatever order they were loaded in.
_CABIN_ORDER = {cabin_class: index for index, cabin_class in enumerate(CabinClass)}


def local_time(moment: datetime, airport: str, zones: Zones) -> datetime:
    """A stored UTC instant as wall-clock time at `airport` (UTC when its zone is unknown)."""
    return moment.astimezone(zones.get(airport, UTC))


def wall_clock(moment: datetime, airport: str, zones: Zones) -> str:
    """A stored UTC instant for people to read (e-mails, pages): the time at `airport`, with
    its offset and zone named, e.g. "Tue 1 Dec 2026, 07:00 (UTC+03:00, Asia/Riyadh)"."""
    zone = zones.get(airport, UTC)
    local = moment.astimezone(zone)
    offset = local.strftime("%z")  # "+0300"
    name = getattr(zone, "key", None) or "UTC"
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} (UTC{offset[:3]}:{offset[3:5]}, {name})"


def flight_summary(flight: Flight, zones: Zones) -> FlightSummary:
    """`{flightNumber, from, to, departureTime, arrivalTime}` for embedding in a booking.

    Needs only the flight's own columns (no relationship is touched), and `zones` holding
    `flight.origin` and `flight.destination`, e.g.
    `zones = await airport_zones(session, {flight.origin, flight.destination})`."""
    return FlightSummary(**_summary_fields(flight, zones))


def _summary_fields(source: Flight | OfferRow, zones: Zones) -> dict[str, Any]:
    """The fields every flight shape shares, from a Flight or a search row, times shown local."""
    return {
        "flight_number": source.flight_number,
        "from_": source.origin,
        "to": source.destination,
        "departure_time": local_time(source.departure_at, source.origin, zones),
        "arrival_time": local_time(source.arrival_at, source.destination, zones),
    }


def cabin_out(cabin: Cabin) -> CabinOut:
    return CabinOut(
        cabin=cabin.cabin_class,
        capacity=cabin.capacity,
        available_seats=cabin.seats_available,
        price=format_amount(cabin.fare_minor, cabin.currency),
        currency=cabin.currency,
    )


def flight_detail(flight: Flight, zones: Zones) -> FlightDetail:
    """The full flight; `flight.cabins` must have been loaded (selectinload or set on creation)."""
    return FlightDetail(
        **_summary_fields(flight, zones),
        id=flight.id,
        status=flight.status,
        cabins=[
            cabin_out(cabin) for cabin in sorted(flight.cabins, key=lambda c: _CABIN_ORDER[c.cabin_class])
        ],
    )


def flight_offer(row: OfferRow, cabin_class: CabinClass, zones: Zones) -> FlightOffer:
    return FlightOffer(
        **_summary_fields(row, zones),
        id=row.flight_id,
        cabin=cabin_class,
        price=format_amount(row.fare_minor, row.currency),
        currency=row.currency,
        available_seats=row.seats_available,
    )
