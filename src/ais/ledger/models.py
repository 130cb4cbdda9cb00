from __future__ import annotations

import enum
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ais.db.base import Base, IdMixin, TimestampMixin, value_enum


class LedgerEntryType(enum.StrEnum):
    CHARGE = "charge"
    REFUND = "refund"
    PARTIAL_REFUND = "partial_refund"
    DISPUTE = "dispute"
    DISPUTE_REVERSAL = "dispute_reversal"


class LedgerEntry(IdMixin, TimestampMixin, Base):
    """One money movement. (type, provider_object_id) is unique in the database, so the same
    charge, refund or dispute reported by several events or retries is written once."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("type", "provider_object_id"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    type: Mapped[LedgerEntryType] = mapped_column(
        value_enum(LedgerEntryType)
    )
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), index=True)
    amount_minor: Mapped[int]  # always positive; the type says which way the money moved
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(20), default="stripe")
    provider_object_id: Mapped[str] = mapped_column(String(255))
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    charge_id: Mapped[str | None] = mapped_column(String(255))
    refund_id: Mapped[str | None] = mapped_column(String(255))
    dispute_id: Mapped[str | None] = mapped_column(String(255))
    event_id: Mapped[str | None] = mapped_column(String(255))
