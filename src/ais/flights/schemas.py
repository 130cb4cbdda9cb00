"""Wire models of flights: search criteria and offers, flight detail, admin create and patch.

Validation that needs no database lives here, so a bad request is a VALIDATION_ERROR in the
contract shape before any service runs. Prices are decimal strings, parsed exponent-aware.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any, ClassVar

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ais.db.base import utcnow
from ais.flights.models import CabinClass, FlightStatus
from ais.flights.rules import check_times
from ais.http.api_model import ApiModel, StrictApiModel
from ais.money import CURRENCY_EXPONENTS, DEFAULT_CURRENCY, parse_amount

# How far ahead a search may look: beyond this nothing is on sale, and it keeps `date + 1 day`
# far from `date.max`.
MAX_SEARCH_DAYS_AHEAD = 730
# Airline designator (two characters, at least one a letter: "SV", "6E", "F9"), 1-4 digits,
# optional operational suffix letter.
FLIGHT_NUMBER = re.compile(r"^(?:[A-Z]{2}|[A-Z][0-9]|[0-9][A-Z])[0-9]{1,4}[A-Z]?$")


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


IataCode = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="IATA airport code (case-insensitive on input)", examples=["RUH"]),
]
CurrencyCode = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="ISO 4217 currency code", examples=["SAR"]),
]
# Shown with the airport's own offset; isoformat() keeps "+00:00" (local time at a UTC+0
# airport) instead of pydantic's "Z", which would claim the time is UTC rather than local.
LocalTime = Annotated[
    dt.datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-12-01T07:00:00+03:00"]}),
]


def _check_currency(currency: str) -> str:
    if currency not in CURRENCY_EXPONENTS:
        raise ValueError(f"unsupported currency {currency!r}")
    return currency


# --- search -------------------------------------------------------------------------------


class SearchCriteria(ApiModel):
    """`GET /flights/search` query; unknown query parameters (cache busters) are ignored."""

    # Where the fields came from, as validation errors name them ("query.from", "body.from").
    LOCATION: ClassVar[str] = "query"

    from_: IataCode = Field(alias="from")
    # Its own example: with the shared one ("RUH") the documented search would be RUH to RUH.
    to: IataCode = Field(examples=["JED"])
    travel_date: dt.date = Field(alias="date", description="Local date at the origin airport",
                                 examples=["2026-12-01"])
    passengers: int = Field(default=1, ge=1, le=9)
    cabin: CabinClass = CabinClass.ECONOMY

    @field_validator("travel_date")
    @classmethod
    def _date_in_range(cls, value: dt.date) -> dt.date:
        # Yesterday (UTC) is still "today" somewhere west of Greenwich.
        today = utcnow().date()
        if value < today - dt.timedelta(days=1):
            raise ValueError("date is in the past")
        if value > today + dt.timedelta(days=MAX_SEARCH_DAYS_AHEAD):
            raise ValueError(f"date is more than {MAX_SEARCH_DAYS_AHEAD} days ahead")
        return value

    @model_validator(mode="after")
    def _distinct_airports(self) -> SearchCriteria:
        if self.from_ == self.to:
            raise ValueError("from and to must be different airports")
        return self

    def cache_identity(self) -> str:
        """Everything the answer depends on, canonically (the search cache key hashes this)."""
        return f"{self.from_}|{self.to}|{self.travel_date.isoformat()}|{self.passengers}|{self.cabin.value}"

    def airport_fields(self) -> dict[str, str]:
        """The airport codes keyed by the field names a validation error reports."""
        return {f"{self.LOCATION}.from": self.from_, f"{self.LOCATION}.to": self.to}


class SearchRequest(SearchCriteria):
    """`POST /flights/search` body: the same fields; unknown fields are refused."""

    LOCATION: ClassVar[str] = "body"

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"from": "RUH", "to": "JED", "date": "2026-12-01", "passengers": 2, "cabin": "economy"}
            ]
        },
    )


class FlightSummary(ApiModel):
    """The flight as a booking shows it."""

    flight_number: str = Field(examples=["SV1020"])
    from_: str = Field(alias="from", examples=["RUH"])
    to: str = Field(examples=["JED"])
    departure_time: LocalTime
    arrival_time: LocalTime


class FlightOffer(FlightSummary):
    id: uuid.UUID
    cabin: CabinClass
    price: str = Field(description="Fare per passenger, decimal string", examples=["450.00"])
    currency: str = Field(examples=["SAR"])
    available_seats: int


class SearchResult(ApiModel):
    flights: list[FlightOffer]


class AirportOut(ApiModel):
    code: str = Field(description="IATA airport code", examples=["RUH"])
    name: str = Field(examples=["King Khalid International"])
    city: str = Field(examples=["Riyadh"])
    country: str = Field(description="ISO 3166-1 alpha-2 country code", examples=["SA"])
    time_zone: str = Field(description="IANA time zone; flight times at this airport carry its offset",
                           examples=["Asia/Riyadh"])


class AirportList(ApiModel):
    items: list[AirportOut]


# --- flight detail ------------------------------------------------------------------------


class CabinOut(ApiModel):
    cabin: CabinClass
    capacity: int
    available_seats: int
    price: str = Field(examples=["450.00"])
    currency: str = Field(examples=["SAR"])


class FlightDetail(FlightSummary):
    id: uuid.UUID
    status: FlightStatus
    cabins: list[CabinOut]


# --- admin: create ------------------------------------------------------------------------


class CabinCreate(StrictApiModel):
    cabin: CabinClass
    capacity: int = Field(ge=1, le=1000)
    price: str = Field(
        description="Fare per passenger, decimal string with at most the currency's decimals",
        examples=["450.00"], max_length=32,
    )
    currency: CurrencyCode = DEFAULT_CURRENCY

    @field_validator("currency")
    @classmethod
    def _currency_known(cls, value: str) -> str:
        return _check_currency(value)

    @model_validator(mode="after")
    def _price_fits_currency(self) -> CabinCreate:
        parse_amount(self.price, self.currency)  # MoneyError is a ValueError: a field error
        return self

    @property
    def fare_minor(self) -> int:
        return parse_amount(self.price, self.currency)


class FlightCreate(StrictApiModel):
    flight_number: str = Field(min_length=3, max_length=8, examples=["SV1020"])
    from_: IataCode = Field(alias="from")
    to: IataCode
    departure_time: AwareDatetime = Field(description="ISO 8601 with offset")
    arrival_time: AwareDatetime = Field(description="ISO 8601 with offset")
    cabins: list[CabinCreate] = Field(min_length=1, max_length=len(CabinClass))

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "flightNumber": "SV1020",
                    "from": "RUH",
                    "to": "JED",
                    "departureTime": "2026-12-01T07:00:00+03:00",
                    "arrivalTime": "2026-12-01T08:50:00+03:00",
                    "cabins": [
                        {"cabin": "economy", "capacity": 250, "price": "450.00", "currency": "SAR"},
                        {"cabin": "business", "capacity": 24, "price": "1650.00", "currency": "SAR"},
                    ],
                }
            ]
        }
    )

    @field_validator("flight_number", mode="before")
    @classmethod
    def _flight_number(cls, value: Any) -> Any:
        value = _upper(value)
        if isinstance(value, str) and not FLIGHT_NUMBER.match(value):
            raise ValueError("flight number must look like SV123 (designator, 1-4 digits, optional letter)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FlightCreate:
        if self.from_ == self.to:
            raise ValueError("from and to must be different airports")
        check_times(self.departure_time, self.arrival_time)
        if self.departure_time <= utcnow():
            raise ValueError("departureTime must be in the future")
        classes = [cabin.cabin for cabin in self.cabins]
        if len(set(classes)) != len(classes):
            raise ValueError("each cabin may appear only once")
        return self


# --- admin: patch -------------------------------------------------------------------------


class CabinPatch(StrictApiModel):
    cabin: CabinClass = Field(description="Which cabin of the flight to change")
    capacity: int | None = Field(default=None, ge=0, le=1000,
                                 description="Never below the seats already sold or held")
    price: str | None = Field(default=None, max_length=32, examples=["495.00"])
    currency: CurrencyCode | None = Field(default=None, description="Needs `price` in the new currency")

    @field_validator("currency")
    @classmethod
    def _currency_known(cls, value: str | None) -> str | None:
        return None if value is None else _check_currency(value)

    @model_validator(mode="after")
    def _consistent(self) -> CabinPatch:
        if self.capacity is None and self.price is None:
            raise ValueError("give capacity and/or price")
        if self.currency is not None:
            if self.price is None:
                raise ValueError("a currency change needs the price in that currency")
            parse_amount(self.price, self.currency)
        return self


class FlightPatch(StrictApiModel):
    status: FlightStatus | None = None
    departure_time: AwareDatetime | None = Field(default=None, description="ISO 8601 with offset")
    arrival_time: AwareDatetime | None = Field(default=None, description="ISO 8601 with offset")
    cabins: list[CabinPatch] | None = Field(default=None, min_length=1, max_length=len(CabinClass))

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "delayed",
                    "departureTime": "2026-12-01T08:30:00+03:00",
                    "arrivalTime": "2026-12-01T10:20:00+03:00",
                    "cabins": [{"cabin": "economy", "price": "495.00", "currency": "SAR", "capacity": 240}],
                }
            ]
        }
    )

    @model_validator(mode="after")
    def _consistent(self) -> FlightPatch:
        nothing = self.status is None and self.departure_time is None and self.arrival_time is None
        if nothing and not self.cabins:
            raise ValueError("nothing to change")
        if self.departure_time is not None and self.arrival_time is not None:
            check_times(self.departure_time, self.arrival_time)
        if self.cabins:
            classes = [cabin.cabin for cabin in self.cabins]
            if len(set(classes)) != len(classes):
                raise ValueError("each cabin may appear only once")
        return self
