from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ais.db.base import Base, IdMixin, TimestampMixin, value_enum


class MessageStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt; kept for inspection


class OutboxMessage(IdMixin, TimestampMixin, Base):
    """An e-mail written in the same transaction as the change it reports (the outbox pattern):
    if the process dies after the commit, the message is still there for the sender job."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_due", "status", "next_attempt_at"),)

    kind: Mapped[str] = mapped_column(String(50))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    booking_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body_text: Mapped[str] = mapped_column(Text)
    # The same message as HTML (sent as multipart/alternative); None for messages queued before it existed.
    body_html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[MessageStatus] = mapped_column(
        value_enum(MessageStatus),
        default=MessageStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
