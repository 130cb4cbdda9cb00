from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from ais.db.base import Base, utcnow

SWITCH_ID = 1


class MaintenanceSwitch(Base):
    """The one row (id 1) that every API process reads: whether bookings and payments are paused."""

    __tablename__ = "maintenance_mode"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),
                      CheckConstraint("retry_after_seconds >= 1", name="retry_after_positive"))

    id: Mapped[int] = mapped_column(primary_key=True, default=SWITCH_ID, autoincrement=False)
    enabled: Mapped[bool] = mapped_column(default=False)
    message: Mapped[str | None] = mapped_column(String(500))
    retry_after_seconds: Mapped[int] = mapped_column(default=300)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[uuid.UUID | None]
