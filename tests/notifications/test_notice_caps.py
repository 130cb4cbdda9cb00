"""Passenger notices are capped (SPEC §6): at most 5 e-mails per booking and 20 per user per hour;
beyond that they are dropped and logged (booking and kind, never the address), never queued."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update
from structlog.testing import capture_logs

from ais.bookings import repository as bookings_repository
from ais.bookings.notices import queue_booking_message
from ais.db.base import utcnow
from ais.notifications.models import OutboxMessage
from tests.factories import book, idempotency_key, new_flight, new_user

VICTIM = "someone-elses-inbox@example.org"


async def _queued(runtime, booking_ids: list[str]) -> int:  # type: ignore[no-untyped-def]
    async with runtime.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.booking_id.in_([uuid.UUID(b) for b in booking_ids]))) or 0)


async def test_book_then_cancel_mails_a_stranger_at_most_twenty_times_an_hour(client, runtime):
    user = await new_user(client, runtime)
    flight = await new_flight(runtime, economy_seats=50)
    booking_ids: list[str] = []
    with capture_logs() as logs:
        for _ in range(24):
            booking = (await book(client, user, flight, contact_email=VICTIM)).json()
            booking_ids.append(booking["id"])
            cancelled = await client.post(f"/api/v1/bookings/{booking['id']}/cancel",
                                          headers={**user.headers, **idempotency_key()})
            assert cancelled.status_code == 200, cancelled.text  # cancelling itself is never refused
    assert await _queued(runtime, booking_ids) == 20
    dropped = [entry for entry in logs if entry["event"] == "notice_dropped"]
    assert len(dropped) == 4
    assert {entry["booking_id"] for entry in dropped} == set(booking_ids[20:])
    assert {(entry["kind"], entry["reason"], entry["log_level"]) for entry in dropped} == {
        ("booking_cancelled", "per_user_hourly_cap", "warning")}
    assert VICTIM not in json.dumps(dropped)

    # The window slides: an hour later the same user's notices go out again.
    async with runtime.session_factory() as session:
        await session.execute(update(OutboxMessage).where(
            OutboxMessage.booking_id.in_([uuid.UUID(b) for b in booking_ids]))
            .values(created_at=utcnow() - timedelta(minutes=61)))
        await session.commit()
    later = (await book(client, user, flight, contact_email=VICTIM)).json()
    await client.post(f"/api/v1/bookings/{later['id']}/cancel", headers={**user.headers, **idempotency_key()})
    assert await _queued(runtime, [later["id"]]) == 1


async def test_at_most_five_notices_about_one_booking(client, runtime):
    """E.g. a run of partial refunds, each reported by the provider: the sixth is dropped."""
    user = await new_user(client, runtime)
    booking = (await book(client, user, await new_flight(runtime), contact_email=VICTIM)).json()
    with capture_logs() as logs:
        async with runtime.session_factory() as session:
            loaded = await bookings_repository.lock_booking(session, uuid.UUID(booking["id"]))
            for refund in range(7):
                await queue_booking_message(session, loaded, "refund_completed", dedupe=f"re_{refund}",
                                            refund_amount="1.00")
            await queue_booking_message(session, loaded, "refund_completed", dedupe="re_0",
                                        refund_amount="1.00")  # the same notice again: neither new nor dropped
            await session.commit()
    assert await _queued(runtime, [booking["id"]]) == 5
    dropped = [entry for entry in logs if entry["event"] == "notice_dropped"]
    assert [(entry["booking_id"], entry["kind"], entry["reason"]) for entry in dropped] == [
        (booking["id"], "refund_completed", "per_booking_cap")] * 2
    assert VICTIM not in json.dumps(dropped)
