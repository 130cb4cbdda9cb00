from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ais.db.base import Base, IdMixin, TimestampMixin, utcnow, value_enum


class FlightStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    DELAYED = "delayed"
    CANCELLED = "cancelled"
    DEPARTED = "departed"
    ARRIVED = "arrived"


class CabinClass(enum.StrEnum):
    ECONOMY = "economy"
    BUSINESS = "business"


class Airport(Base):
    __tablename__ = "airports"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)  # IATA
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    timezone: Mapped[str] = mapped_column(String(64))  # IANA, e.g. Asia/Riyadh


class Flight(IdMixin, TimestampMixin, Base):
    __tablename__ = "flights"
    __table_args__ = (
        UniqueConstraint("flight_number", "departure_at"),
        Index("ix_flights_route_departure", "origin", "destination", "departure_at"),
        CheckConstraint("arrival_at > departure_at", name="arrival_after_departure"),
        CheckConstraint("origin <> destination", name="distinct_airports"),
    )

    flight_number: Mapped[str] = mapped_column(String(8))
    origin: Mapped[str] = mapped_column(ForeignKey("airports.code"))
    destination: Mapped[str] = mapped_column(ForeignKey("airports.code"))
    departure_at: Mapped[datetime]
    arrival_at: Mapped[datetime]
    status: Mapped[FlightStatus] = mapped_column(value_enum(FlightStatus), default=FlightStatus.SCHEDULED)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    cabins: Mapped[list[Cabin]] = relationship(lazy="raise", order_by="Cabin.cabin_class")
    origin_airport: Mapped[Airport] = relationship(foreign_keys=[origin], lazy="raise")
    destination_airport: Mapped[Airport] = relationship(foreign_keys=[destination], lazy="raise")


class Cabin(IdMixin, Base):
    """Seat inventory of one cabin. `seats_available` only changes through atomic SQL
    (`seats_available = seats_available - n WHERE seats_available >= n`), never read-modify-write."""

    __tablename__ = "cabins"
    __table_args__ = (
        UniqueConstraint("flight_id", "cabin_class"),
        CheckConstraint("seats_available >= 0", name="seats_not_negative"),
        CheckConstraint("seats_available <= capacity", name="seats_within_capacity"),
        CheckConstraint("fare_minor >= 0", name="fare_not_negative"),
    )

    flight_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("flights.id", ondelete="CASCADE"))
    cabin_class: Mapped[CabinClass] = mapped_column(value_enum(CabinClass))
    capacity: Mapped[int]
    seats_available: Mapped[int]
    fare_minor: Mapped[int]  # per passenger, in the currency's minor units
    currency: Mapped[str] = mapped_column(String(3))
    # Check-in sequence numbers (and so seats) are handed out by an atomic increment.
    checkin_sequence: Mapped[int] = mapped_column(default=0, server_default="0")
