from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ais.db.base import Base, IdMixin, TimestampMixin, value_enum


class Role(enum.StrEnum):
    PASSENGER = "passenger"
    ADMIN = "admin"


class TokenStatus(enum.StrEnum):
    ACTIVE = "active"
    ROTATED = "rotated"
    REVOKED = "revoked"


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(
        value_enum(Role),
        default=Role.PASSENGER,
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    # Carried in every access token; bumped by logout-all, deactivation and a role change, so
    # tokens issued before stop being honoured (SPEC §6) long before they expire.
    token_version: Mapped[int] = mapped_column(default=0, server_default=text("0"))


class RefreshToken(IdMixin, TimestampMixin, Base):
    """One row per issued refresh token; the token itself is never stored, only
    SHA-256(token + pepper). Rows of one device share `device_id` (the rotation chain)."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_user_device", "user_id", "device_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    device_id: Mapped[uuid.UUID]
    device_name: Mapped[str | None] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[TokenStatus] = mapped_column(
        value_enum(TokenStatus),
        default=TokenStatus.ACTIVE,
    )
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
