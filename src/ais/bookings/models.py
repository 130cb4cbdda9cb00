from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ais.bookings.rules import BookingStatus
from ais.db.base import Base, IdMixin, TimestampMixin, utcnow, value_enum
from ais.flights.models import CabinClass, Flight


class PassengerType(enum.StrEnum):
    ADULT = "adult"
    CHILD = "child"
    INFANT = "infant"  # on an adult's lap: no seat of its own


class Booking(IdMixin, TimestampMixin, Base):
    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_user_created", "user_id", "created_at"),
        # The hold limit's count (SPEC §4) reads only the user's bookings that hold seats.
        Index("ix_bookings_user_status_expires", "user_id", "status", "expires_at"),
        Index("ix_bookings_status_expires", "status", "expires_at"),
        Index("ix_bookings_flight_status", "flight_id", "status"),
        CheckConstraint("seat_count >= 1", name="at_least_one_seat"),
        CheckConstraint("total_minor >= 0", name="total_not_negative"),
    )

    reference: Mapped[str] = mapped_column(String(6), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    flight_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("flights.id"))
    cabin_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cabins.id"))
    cabin_class: Mapped[CabinClass] = mapped_column(value_enum(CabinClass))
    seat_count: Mapped[int]
    contact_email: Mapped[str] = mapped_column(String(254))
    total_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[BookingStatus] = mapped_column(value_enum(BookingStatus))
    expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    flight: Mapped[Flight] = relationship(lazy="raise")
    passengers: Mapped[list[Passenger]] = relationship(
        lazy="raise", order_by="Passenger.position", cascade="all, delete-orphan"
    )
    history: Mapped[list[BookingStatusChange]] = relationship(
        lazy="raise", order_by="BookingStatusChange.at", cascade="all, delete-orphan"
    )


class Passenger(IdMixin, Base):
    __tablename__ = "passengers"

    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    type: Mapped[PassengerType] = mapped_column(value_enum(PassengerType))
    date_of_birth: Mapped[date | None]
    ticket_number: Mapped[str | None] = mapped_column(String(14), unique=True)
    seat_number: Mapped[str | None] = mapped_column(String(4))
    # The check-in sequence number printed on the boarding pass (a lap infant shares its adult's):
    # kept so that the pass can be issued again exactly as at check-in.
    checkin_sequence: Mapped[int | None]


class BookingStatusChange(IdMixin, Base):
    __tablename__ = "booking_status_history"

    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[BookingStatus | None] = mapped_column(value_enum(BookingStatus))
    to_status: Mapped[BookingStatus] = mapped_column(value_enum(BookingStatus))
    reason: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(80))  # "user:<id>", "admin:<id>", "system:<job>"
    at: Mapped[datetime] = mapped_column(default=utcnow)
