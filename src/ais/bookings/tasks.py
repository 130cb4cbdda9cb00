"""Periodic booking jobs: lapse stale holds, and settle bookings after their flight leaves.

Each booking moves in its own short transaction through the one transition guard, so a
booking that a passenger cancels (or pays) at the same moment is simply skipped: the
compare-and-set lets exactly one of them win, and seats go back exactly once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog

from ais.audit.service import Actor
from ais.bookings import repository
from ais.bookings.rules import EXPIRABLE, BookingStatus
from ais.bookings.service import transition
from ais.db.base import utcnow
from ais.db.unit_of_work import UnitOfWork
from ais.errors import InvalidStateTransition
from ais.runtime import Runtime

_log = structlog.get_logger("ais.bookings.tasks")
BATCH = 500
# A checked-in passenger who has not boarded this long after departure did not fly.
NO_SHOW_AFTER_DEPARTURE = timedelta(minutes=30)


async def _move(runtime: Runtime, booking_id: uuid.UUID, target: BookingStatus, reason: str, actor: Actor,
                expected: frozenset[BookingStatus]) -> bool:
    try:
        async with UnitOfWork(runtime) as uow:
            booking = await repository.booking_with_details(uow.session, booking_id)
            if booking is None or booking.status not in expected:
                return False
            await transition(uow.session, booking, target, reason=reason, actor=actor)
    except InvalidStateTransition:
        return False  # someone else moved it first (rolled back)
    return True


async def expire_stale_holds(runtime: Runtime) -> int:
    """Move holds past `expiresAt` to `expired`, giving their seats back exactly once."""
    actor = Actor.system("expire_stale_holds")
    moved = 0
    while True:
        async with UnitOfWork(runtime) as uow:
            ids = await repository.stale_hold_ids(uow.session, EXPIRABLE, utcnow(), BATCH)
        for booking_id in ids:
            moved += await _move(runtime, booking_id, BookingStatus.EXPIRED, "seat hold expired", actor, EXPIRABLE)
        if len(ids) < BATCH:
            return moved


async def complete_departed_flights(runtime: Runtime) -> int:
    """After departure: confirmed but never checked in, or checked in but not boarded → no_show;
    boarded, once landed → completed. No seat goes back (the flight has left)."""
    now = utcnow()
    moved = 0
    plan = [
        (BookingStatus.CONFIRMED, BookingStatus.NO_SHOW, "did not check in", "no_show_sweep"),
        (BookingStatus.CHECKED_IN, BookingStatus.NO_SHOW, "did not board", "no_show_sweep"),
        (BookingStatus.BOARDED, BookingStatus.COMPLETED, "flight arrived", "completion_sweep"),
    ]
    for source, target, reason, job in plan:
        actor = Actor.system(job)
        async with UnitOfWork(runtime) as uow:
            ids = await repository.departed_booking_ids(
                uow.session, source, departed_before=now - NO_SHOW_AFTER_DEPARTURE, arrived_before=now, limit=5000
            )
        for booking_id in ids:
            moved += await _move(runtime, booking_id, target, reason, actor, frozenset({source}))
    return moved
