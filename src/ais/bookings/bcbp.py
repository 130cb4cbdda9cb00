"""IATA Bar Coded Boarding Pass (Resolution 792), format "M", one leg, mandatory items only."""

from __future__ import annotations

import re
from datetime import date

from ais.flights.models import CabinClass

_COMPARTMENT = {CabinClass.ECONOMY: "Y", CabinClass.BUSINESS: "J"}
_FLIGHT_NUMBER = re.compile(r"^([A-Z0-9]{2})(\d{1,4})([A-Z]?)$")


def _field(value: str, width: int) -> str:
    return value[:width].ljust(width)


def passenger_name(last_name: str, first_name: str) -> str:
    """LAST/FIRST in upper-case ASCII letters, as printed on the pass (20 characters max)."""
    def clean(text: str) -> str:
        return re.sub(r"[^A-Z ]", "", text.upper()).strip()

    return _field(f"{clean(last_name)}/{clean(first_name)}", 20)


def encode(
    *,
    last_name: str,
    first_name: str,
    reference: str,
    origin: str,
    destination: str,
    flight_number: str,
    departure_local_date: date,
    cabin: CabinClass,
    seat: str,
    sequence_number: int,
) -> str:
    """The 60-character mandatory section of a one-leg BCBP."""
    match = _FLIGHT_NUMBER.match(flight_number.upper())
    if not match:
        raise ValueError(f"not an IATA flight number: {flight_number!r}")
    carrier, digits, suffix = match.groups()
    row = re.match(r"^(\d+)([A-Z])$", seat)
    if not row:
        raise ValueError(f"not a seat: {seat!r}")
    parts = [
        "M",  # format code
        "1",  # number of legs encoded
        passenger_name(last_name, first_name),
        "E",  # electronic ticket indicator
        _field(reference.upper(), 7),
        origin.upper(),
        destination.upper(),
        _field(carrier, 3),
        f"{int(digits):04d}{suffix or ' '}",
        f"{departure_local_date.timetuple().tm_yday:03d}",
        _COMPARTMENT[cabin],
        f"{int(row.group(1)):03d}{row.group(2)}",
        _field(f"{sequence_number:04d}", 5),
        "1",  # passenger status: checked in
        "00",  # size of the (absent) conditional section, hex
    ]
    result = "".join(parts)
    assert len(result) == 60, len(result)
    return result


# Seat maps: business rows from 1 (2-2 layout), economy rows from 10 (3-3 layout).
_LAYOUT = {CabinClass.BUSINESS: (1, "ACDF"), CabinClass.ECONOMY: (10, "ABCDEF")}


def seat_for_sequence(cabin: CabinClass, sequence_number: int) -> str:
    """The n-th seat handed out in a cabin (1-based): 10A, 10B, … 10F, 11A …"""
    first_row, letters = _LAYOUT[cabin]
    index = sequence_number - 1
    return f"{first_row + index // len(letters)}{letters[index % len(letters)]}"
