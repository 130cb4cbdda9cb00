"""Registration, login per device, refresh with rotation and reuse detection, logout."""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ais.config import Settings
from ais.db.base import utcnow
from ais.errors import Unauthorized, ValidationFailed
from ais.identity import repository
from ais.identity.access_check import AccessStateCache
from ais.identity.models import RefreshToken, Role, TokenStatus, User
from ais.identity.schemas import TokenPair
from ais.identity.security import (
    hash_password,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    verify_password,
)

_log = structlog.get_logger("ais.identity")


class EmailTaken(ValidationFailed):
    default_message = "An account with this e-mail already exists."

    def __init__(self) -> None:
        super().__init__(details={"errors": [{"field": "email", "message": self.default_message}]})


class RefreshTokenReused(Unauthorized):
    """A rotated refresh token presented again: a theft signal. The device chain is revoked and
    the request refused; the revocation commits although the request fails (`keeps_changes`)."""

    keeps_changes = True
    default_message = "The refresh token was already used; this device has been signed out."


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def register(session: AsyncSession, *, email: str, password: str, full_name: str,
                   role: Role = Role.PASSENGER) -> User:
    """Create a user. Raises EmailTaken (422) when the e-mail is already registered (the caller's
    transaction is then unusable: the unit of work rolls it back)."""
    user = User(
        email=normalize_email(email),
        password_hash=await hash_password(password),
        full_name=full_name.strip(),
        role=role,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        raise EmailTaken() from None
    return user


async def login(session: AsyncSession, settings: Settings, *, email: str, password: str,
                device_name: str | None) -> TokenPair:
    """A new device chain for a correct e-mail and password; Unauthorized otherwise, after the
    same amount of work whether or not the e-mail exists."""
    user = await repository.user_by_email(session, normalize_email(email))
    valid = await verify_password(user.password_hash if user else None, password)
    if user is None or not valid or not user.is_active:
        _log.info("login_failed")
        raise Unauthorized("E-mail or password is wrong.")
    pair = await _issue_pair(session, settings, user=user, device_id=uuid.uuid4(), device_name=device_name)
    _log.info("login", user_id=str(user.id))
    return pair


async def refresh(session: AsyncSession, settings: Settings, *, refresh_token: str) -> TokenPair:
    """Rotate: the presented token becomes unusable and a new pair is issued on the same device.
    A token that was already rotated is a theft signal: the whole device chain is revoked and
    RefreshTokenReused raised (its revocation commits all the same)."""
    now = utcnow()
    token = await repository.token_by_hash(
        session, hash_refresh_token(refresh_token, settings.refresh_token_pepper or "")
    )
    if token is None:
        raise Unauthorized("The refresh token is not valid.")
    if token.status == TokenStatus.ROTATED or (
        token.status == TokenStatus.ACTIVE and not await repository.mark_rotated_if_active(session, token.id, now)
    ):
        await repository.revoke_device(session, token.user_id, token.device_id, now)
        _log.warning("refresh_token_reuse", user_id=str(token.user_id), device_id=str(token.device_id))
        raise RefreshTokenReused()
    if token.status == TokenStatus.REVOKED or token.expires_at <= now:
        raise Unauthorized("The refresh token is not valid.")
    user = await repository.user_by_id(session, token.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The refresh token is not valid.")
    return await _issue_pair(session, settings, user=user, device_id=token.device_id, device_name=token.device_name)


async def logout(session: AsyncSession, settings: Settings, *, user_id: uuid.UUID, refresh_token: str) -> None:
    """Revoke the device that holds this refresh token (only the caller's own)."""
    token = await repository.token_by_hash(
        session, hash_refresh_token(refresh_token, settings.refresh_token_pepper or "")
    )
    if token is None or token.user_id != user_id:
        return  # logging out twice, or with a stranger's token, reveals nothing
    await repository.revoke_device(session, user_id, token.device_id, utcnow())


async def logout_all(session: AsyncSession, *, user_id: uuid.UUID, access_states: AccessStateCache) -> None:
    """Revoke every refresh token and every access token of the user; once committed, this
    process refuses the user's old access tokens at once, the others within seconds."""
    await repository.revoke_all(session, user_id, utcnow())
    access_states.forget_after_commit(session, user_id)


async def _issue_pair(session: AsyncSession, settings: Settings, *, user: User, device_id: uuid.UUID,
                      device_name: str | None) -> TokenPair:
    assert settings.jwt_secret and settings.refresh_token_pepper
    raw = new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            device_id=device_id,
            device_name=device_name,
            token_hash=hash_refresh_token(raw, settings.refresh_token_pepper),
            expires_at=utcnow() + timedelta(days=settings.refresh_token_days),
        )
    )
    access = issue_access_token(
        user_id=user.id, role=user.role.value, version=user.token_version, secret=settings.jwt_secret,
        minutes=settings.access_token_minutes,
    )
    return TokenPair(access_token=access, refresh_token=raw, expires_in=settings.access_token_minutes * 60)
