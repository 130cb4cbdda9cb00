"""Passenger notices are capped (SPEC §6): at most 5 e-mails per booking and 20 per user (the
booking's owner) per hour. Anyone can book with any contact address and cancel again; without a
cap AIS would mail a stranger's inbox as fast as an attacker can click. A notice beyond a cap is
dropped and logged (booking and kind, never the address), never queued to wait for later."""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ais.db.base import utcnow
from ais.notifications import repository
from ais.notifications.notice import BookingNotice

MAX_NOTICES_PER_BOOKING = 5
MAX_NOTICES_PER_USER_PER_HOUR = 20
_HOUR = timedelta(hours=1)
_log = structlog.get_logger("ais.notifications")


async def may_queue(session: AsyncSession, notice: BookingNotice) -> bool:
    """Whether the notice is to be queued: not queued already, and within both caps.

    Counted in the caller's transaction. Every status change that sends a notice holds the
    booking's row lock, so the per-booking cap is exact; notices about different bookings of one
    user counted at the same instant may pass the hourly cap by the few that run in parallel."""
    counts = await repository.notice_counts(
        session, dedupe_key=notice.dedupe_key, booking_id=notice.booking_id, user_id=notice.user_id,
        since=utcnow() - _HOUR, user_cap=MAX_NOTICES_PER_USER_PER_HOUR)
    if counts.already_queued:
        return False  # the same notice again (a webhook applied twice): not a new e-mail, nothing dropped
    if counts.about_booking >= MAX_NOTICES_PER_BOOKING:
        _dropped(notice, "per_booking_cap", MAX_NOTICES_PER_BOOKING)
        return False
    if counts.for_user >= MAX_NOTICES_PER_USER_PER_HOUR:
        _dropped(notice, "per_user_hourly_cap", MAX_NOTICES_PER_USER_PER_HOUR)
        return False
    return True


def _dropped(notice: BookingNotice, reason: str, limit: int) -> None:
    _log.warning("notice_dropped", booking_id=str(notice.booking_id), user_id=str(notice.user_id), kind=notice.kind,
                 reason=reason, limit=limit)
