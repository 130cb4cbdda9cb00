"""Passenger types follow the date of birth, never the client's word (SPEC §4): the type sets the
fare and whether the passenger takes a seat. Pure: no I/O, tested without a database.

The age that counts is the age on the local departure date at the origin airport: a child who
turns 2 on the day of the flight (in the origin's time zone) flies as a child."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from ais.bookings.models import PassengerType

INFANT_UNDER_YEARS = 2
CHILD_UNDER_YEARS = 12
_NEEDS_DATE_OF_BIRTH = frozenset({PassengerType.INFANT, PassengerType.CHILD})
_RANGE = {
    PassengerType.INFANT: f"under {INFANT_UNDER_YEARS}",
    PassengerType.CHILD: f"{INFANT_UNDER_YEARS} to {CHILD_UNDER_YEARS - 1}",
    PassengerType.ADULT: f"{CHILD_UNDER_YEARS} or over",
}


class PassengerFacts(Protocol):
    @property
    def type(self) -> PassengerType: ...
    @property
    def date_of_birth(self) -> date | None: ...


def age_on(born: date, day: date) -> int:
    """Whole years completed on `day` (someone born on 29 February has a birthday on 1 March
    in other years)."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def type_for_age(age: int) -> PassengerType:
    if age < INFANT_UNDER_YEARS:
        return PassengerType.INFANT
    if age < CHILD_UNDER_YEARS:
        return PassengerType.CHILD
    return PassengerType.ADULT


def passenger_errors(passengers: Sequence[PassengerFacts], *, departure_date: date,
                     field_prefix: str = "body.passengers") -> list[dict[str, str]]:
    """Every way the passengers contradict the rules, as `{field, message}` (empty when none):
    a type the date of birth does not give, an infant or child without a date of birth, a date of
    birth after the departure, no adult, more infants than adults (one lap each)."""
    errors: list[dict[str, str]] = []
    for index, passenger in enumerate(passengers):
        field = f"{field_prefix}.{index}.dateOfBirth"
        born = passenger.date_of_birth
        if born is None:
            if passenger.type in _NEEDS_DATE_OF_BIRTH:
                errors.append({"field": field, "message": f"is required for {_a(passenger.type)}"})
            continue
        if born > departure_date:
            errors.append({"field": field, "message": f"is after the departure date ({departure_date.isoformat()})"})
            continue
        age = age_on(born, departure_date)
        expected = type_for_age(age)
        if expected != passenger.type:
            errors.append({"field": field, "message": (
                f"gives age {age} on the departure date ({departure_date.isoformat()}): the passenger is "
                f"{_a(expected)} ({_RANGE[expected]}), not {_a(passenger.type)}")})
    adults = sum(1 for p in passengers if p.type == PassengerType.ADULT)
    infants = sum(1 for p in passengers if p.type == PassengerType.INFANT)
    if adults == 0:
        errors.append({"field": field_prefix, "message": "a booking needs at least one adult"})
    elif infants > adults:
        errors.append({"field": field_prefix,
                       "message": "each infant travels on an adult's lap: at most one infant per adult"})
    return errors


def _a(kind: PassengerType) -> str:
    return f"{'a' if kind == PassengerType.CHILD else 'an'} {kind.value}"
