from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from pydantic import EmailStr, Field, field_validator

from ais.bookings.models import PassengerType
from ais.bookings.rules import BookingStatus
from ais.flights.models import CabinClass
from ais.flights.schemas import FlightSummary
from ais.http.api_model import ApiModel, StrictApiModel

MAX_PASSENGERS = 9  # the usual airline limit for one record locator


class PassengerIn(StrictApiModel):
    first_name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    last_name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    type: PassengerType = PassengerType.ADULT
    date_of_birth: date | None = None

    @field_validator("first_name", "last_name")
    @classmethod
    def _strip(cls, value: str) -> str:
        stripped = value.strip()
        if not stripped:
            raise ValueError("must not be blank")
        return stripped

    @field_validator("date_of_birth")
    @classmethod
    def _born_in_the_past(cls, value: date | None) -> date | None:
        # "Today" where it is latest (UTC+14): a baby born today anywhere is not in the future.
        latest_today = (datetime.now(UTC) + timedelta(hours=14)).date()
        if value is not None and (value > latest_today or value.year < 1900):
            raise ValueError("must be a past date")
        return value


# Passenger types are checked against the dates of birth, and the adults and infants counted, by
# the booking service (`passenger_types.py`): the age that counts is the one on the departure date.
class BookingCreate(StrictApiModel):
    flight_id: uuid.UUID
    cabin: CabinClass = CabinClass.ECONOMY
    passengers: list[PassengerIn] = Field(min_length=1, max_length=MAX_PASSENGERS)
    contact_email: EmailStr

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "flightId": "0b7c3f0e-4b8f-4c55-9f5e-2f1c3f6f4a10",
                    "cabin": "economy",
                    "passengers": [
                        {"firstName": "Sara", "lastName": "Alharbi", "type": "adult"},
                        {"firstName": "Omar", "lastName": "Alharbi", "type": "child", "dateOfBirth": "2017-04-02"},
                    ],
                    "contactEmail": "sara@example.com",
                }
            ]
        }
    }


class PassengerOut(ApiModel):
    first_name: str
    last_name: str
    type: PassengerType
    date_of_birth: date | None
    ticket_number: str | None
    seat_number: str | None = None


class StatusChangeOut(ApiModel):
    from_: BookingStatus | None = Field(alias="from")
    to: BookingStatus
    reason: str
    at: datetime


class BookingOut(ApiModel):
    id: uuid.UUID
    reference: str
    status: BookingStatus
    flight_id: uuid.UUID
    flight: FlightSummary
    cabin: CabinClass
    passengers: list[PassengerOut]
    contact_email: str
    total_amount: str
    currency: str
    expires_at: datetime | None
    created_at: datetime
    status_history: list[StatusChangeOut]


class BoardingPass(ApiModel):
    passenger: str
    ticket_number: str | None
    seat_number: str
    sequence_number: int
    bcbp: str = Field(description="IATA BCBP (Resolution 792) barcode data, format M, one leg")


class CheckInOut(ApiModel):
    booking: BookingOut
    boarding_passes: list[BoardingPass]


class BoardingPassesOut(ApiModel):
    boarding_passes: list[BoardingPass]
