from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ais.db.base import Base, IdMixin, TimestampMixin, utcnow, value_enum

_STATUS_LENGTH = 24  # "partially_refunded", with room to grow


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


class RefundStatus(enum.StrEnum):
    PENDING = "pending"  # recorded, provider not yet asked (or its answer was lost)
    REQUESTED = "requested"  # the provider accepted it; the ledger waits for its event
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Payment(IdMixin, TimestampMixin, Base):
    """One payment attempt: a Checkout Session and, once paid, its PaymentIntent and Charge."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("booking_id", "attempt"),
        Index("ix_payments_status_created", "status", "created_at"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), index=True)
    attempt: Mapped[int]
    provider: Mapped[str] = mapped_column(String(20), default="stripe")
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    charge_id: Mapped[str | None] = mapped_column(String(255), index=True)
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PaymentStatus] = mapped_column(
        value_enum(PaymentStatus, _STATUS_LENGTH), default=PaymentStatus.PENDING)
    expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Refund(IdMixin, TimestampMixin, Base):
    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), index=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(200))
    provider_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[RefundStatus] = mapped_column(value_enum(RefundStatus, _STATUS_LENGTH), default=RefundStatus.PENDING)
    requested_by: Mapped[str] = mapped_column(String(80))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)  # sent to the provider
    failure_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProviderEvent(Base):
    """The webhook inbox (`stripe_events`): stored before processing; only `processed` stops a retry."""

    __tablename__ = "stripe_events"
    __table_args__ = (Index("ix_stripe_events_processed_received", "processed", "received_at"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    processed: Mapped[bool] = mapped_column(default=False)
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
