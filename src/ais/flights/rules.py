"""Flight rules as data: which status may follow which, and what is sellable. Pure, no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta

from ais.errors import InvalidStateTransition
from ais.flights.models import FlightStatus

F = FlightStatus
# Cancelled and arrived are terminal: reinstating a cancelled flight would resurrect seats
# whose bookings the cancellation already released or refunded.
FLIGHT_TRANSITIONS: dict[FlightStatus, frozenset[FlightStatus]] = {
    F.SCHEDULED: frozenset({F.DELAYED, F.CANCELLED, F.DEPARTED}),
    F.DELAYED: frozenset({F.SCHEDULED, F.CANCELLED, F.DEPARTED}),
    F.DEPARTED: frozenset({F.ARRIVED}),
    F.CANCELLED: frozenset(),
    F.ARRIVED: frozenset(),
}

# Statuses a passenger may still search for and book.
SELLABLE_STATUSES: frozenset[FlightStatus] = frozenset({F.SCHEDULED, F.DELAYED})

# Longer than any scheduled airliner sector (the longest are under 19 h); a longer block
# time is a typo in a date, not a flight.
MAX_BLOCK_TIME = timedelta(hours=24)


def check_flight_transition(current: FlightStatus, new: FlightStatus) -> None:
    """Raise InvalidStateTransition unless `current → new` is allowed (staying put is allowed)."""
    if new != current and new not in FLIGHT_TRANSITIONS[current]:
        raise InvalidStateTransition(
            f"A {current.value} flight cannot become {new.value}.",
            details={"from": current.value, "to": new.value},
        )


def check_times(departure: datetime, arrival: datetime) -> None:
    """Raise ValueError (a field error at the edge) unless the block time is plausible."""
    if arrival <= departure:
        raise ValueError("arrivalTime must be after departureTime")
    if arrival - departure > MAX_BLOCK_TIME:
        raise ValueError("a flight may not last longer than 24 hours")


def times_editable(status: FlightStatus) -> bool:
    """Times describe the plan; once a flight has left (or was cancelled) they are history."""
    return status in SELLABLE_STATUSES


def has_departed(status: FlightStatus, departure_at: datetime, now: datetime) -> bool:
    """Whether the flight has left: marked departed or arrived, or past its departure time. A
    cancelled flight never departs (its passengers may still cancel and be refunded)."""
    if status in (F.DEPARTED, F.ARRIVED):
        return True
    return status != F.CANCELLED and now >= departure_at
