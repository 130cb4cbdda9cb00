"""All SQL of the payments domain."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from ais.bookings import repository as bookings_repository
from ais.bookings.models import Booking
from ais.bookings.rules import HOLD_GONE
from ais.db.base import utcnow
from ais.db.engine import on_postgresql
from ais.db.upsert import insert_if_absent
from ais.payments.models import Payment, PaymentStatus, ProviderEvent, Refund, RefundStatus


async def latest_payment(session: AsyncSession, booking_id: uuid.UUID) -> Payment | None:
    return await session.scalar(_latest_payment_statement(), {"booking_id": booking_id})


async def checkout_sessions_created(session: AsyncSession, booking_id: uuid.UUID) -> int:
    """The booking's payment attempts that the provider answered with a checkout session (an
    attempt whose provider call failed has none)."""
    return int(await session.scalar(_checkout_sessions_statement(), {"booking_id": booking_id}) or 0)


# Built once (on first use, once the mappers are configured): every pay request runs both.
@functools.cache
def _latest_payment_statement() -> Any:
    return (select(Payment).where(Payment.booking_id == bindparam("booking_id"))
            .order_by(Payment.attempt.desc()).limit(1))


@functools.cache
def _checkout_sessions_statement() -> Any:
    return (select(func.count()).select_from(Payment)
            .where(Payment.booking_id == bindparam("booking_id"), Payment.checkout_session_id.is_not(None)))


async def captured_payments(session: AsyncSession, booking_id: uuid.UUID) -> list[Payment]:
    """The booking's attempts that reached a PaymentIntent and succeeded (refunded or not), newest first."""
    captured = (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)
    return list((await session.scalars(
        select(Payment).where(Payment.booking_id == booking_id, Payment.status.in_(captured),
                              Payment.payment_intent_id.is_not(None))
        .order_by(Payment.attempt.desc())
    )).all())


async def payment_by_id(session: AsyncSession, payment_id: uuid.UUID) -> Payment | None:
    return await session.get(Payment, payment_id, populate_existing=True)


async def payment_with_locked_booking(session: AsyncSession, *, payment_id: uuid.UUID | None = None,
                                      checkout_session_id: str | None = None, payment_intent_id: str | None = None,
                                      charge_id: str | None = None) -> tuple[Payment, Booking] | None:
    """The payment named by our id, else by the first provider id that finds one, with its booking
    locked and loaded for a status change (`bookings.repository.for_status_change`), in one
    statement per id tried."""
    for column, value in (("id", payment_id), ("checkout_session_id", checkout_session_id),
                          ("payment_intent_id", payment_intent_id), ("charge_id", charge_id)):
        if value:
            row = (await session.execute(_payment_with_locked_booking(column), {"value": value})).unique().first()
            if row is not None:
                payment, booking = row
                return payment, booking
    return None


@functools.cache
def _payment_with_locked_booking(column: str) -> Any:
    """Built once per id column: every event about a payment, and every checkout, runs one."""
    statement = (select(Payment, Booking).join(Booking, Booking.id == Payment.booking_id)
                 .where(getattr(Payment, column) == bindparam("value")))
    return bookings_repository.for_status_change(statement)


async def refund_by_provider_id(session: AsyncSession, provider_refund_id: str) -> Refund | None:
    return await session.scalar(select(Refund).where(Refund.provider_refund_id == provider_refund_id))


async def refund_by_idempotency_key(session: AsyncSession, idempotency_key: str) -> Refund | None:
    return await session.scalar(select(Refund).where(Refund.idempotency_key == idempotency_key))


async def refund_by_id(session: AsyncSession, refund_id: uuid.UUID) -> Refund | None:
    return await session.get(Refund, refund_id, populate_existing=True)


async def pending_refund_ids(session: AsyncSession, limit: int = 100) -> list[uuid.UUID]:
    return list((await session.scalars(
        select(Refund.id).where(Refund.status == RefundStatus.PENDING).order_by(Refund.created_at).limit(limit)
    )).all())


async def pending_refund_ids_recorded_since(session: AsyncSession, since: datetime, limit: int) -> list[uuid.UUID]:
    return list((await session.scalars(
        select(Refund.id).where(Refund.status == RefundStatus.PENDING, Refund.created_at >= since)
        .order_by(Refund.created_at).limit(limit)
    )).all())


async def refunded_or_requested(session: AsyncSession, booking_id: uuid.UUID, *,
                                payment_id: uuid.UUID | None = None) -> int:
    """Money already refunded or on its way back (pending, requested, succeeded refunds), of
    the booking or of one of its payments."""
    statement = select(func.coalesce(func.sum(Refund.amount_minor), 0)).where(
        Refund.booking_id == booking_id, Refund.status != RefundStatus.FAILED)
    if payment_id is not None:
        statement = statement.where(Refund.payment_id == payment_id)
    return int(await session.scalar(statement) or 0)


_events = cast(Table, ProviderEvent.__table__)
_EVENT_COLUMNS = ("id", "type", "payload", "processed", "attempts", "received_at")


@functools.cache
def _store_event_statement() -> Any:
    """PostgreSQL: the INSERT … ON CONFLICT DO NOTHING and the `processed` of the row that was
    there before it (NULL when there was none), in one statement: its read sees the table as it
    was before the insert."""
    new = (postgresql.insert(_events)
           .values({name: bindparam(name, type_=_events.c[name].type) for name in _EVENT_COLUMNS})
           .on_conflict_do_nothing(index_elements=["id"]).cte("new_event"))
    return select(select(_events.c.processed).where(_events.c.id == bindparam("id")).scalar_subquery()).add_cte(new)


async def store_delivery(session: AsyncSession, *, event_id: str, event_type: str, payload: dict[str, object],
                         now: datetime) -> bool:
    """Store a delivered event unless it is stored already; True when it was, and processed
    (an earlier delivery's processing completed). One statement on PostgreSQL."""
    values = {"id": event_id, "type": event_type, "payload": payload, "processed": False, "attempts": 0,
              "received_at": now}
    if on_postgresql(session):
        return bool(await session.scalar(_store_event_statement(), values))
    if await insert_if_absent(session, _events, values, ["id"]):
        return False
    return bool(await session.scalar(select(ProviderEvent.processed).where(ProviderEvent.id == event_id)))


async def get_event(session: AsyncSession, event_id: str) -> ProviderEvent | None:
    return await session.get(ProviderEvent, event_id, populate_existing=True)


async def list_events(session: AsyncSession, *, processed: bool | None, event_type: str | None,
                      after: tuple[datetime, str] | None, limit: int) -> list[ProviderEvent]:
    """The webhook inbox newest first, keyset-paginated on (received_at, id)."""
    statement = select(ProviderEvent)
    if processed is not None:
        statement = statement.where(ProviderEvent.processed.is_(processed))
    if event_type:
        statement = statement.where(ProviderEvent.type == event_type)
    if after is not None:
        received_at, last_id = after
        statement = statement.where(or_(ProviderEvent.received_at < received_at,
                                        and_(ProviderEvent.received_at == received_at, ProviderEvent.id < last_id)))
    statement = statement.order_by(ProviderEvent.received_at.desc(), ProviderEvent.id.desc()).limit(limit)
    return list((await session.scalars(statement)).all())


async def mark_processed(session: AsyncSession, event_id: str, now: datetime) -> bool:
    """Mark the inbox row processed, in the caller's transaction, unless it is processed already;
    False then (or for an unknown id). The row stays locked until that transaction ends, so two
    deliveries of one event are processed one after the other: the second waits here, then finds
    the row processed. A processing that fails rolls the mark back with everything else."""
    result = await session.execute(_MARK_PROCESSED, {"event_id": event_id, "now": now})
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Built once: every event processed runs it (a Core statement, so no ORM bookkeeping either).
_MARK_PROCESSED = (
    update(_events).where(_events.c.id == bindparam("event_id"), _events.c.processed.is_(False))
    .values(processed=True, processed_at=bindparam("now"), attempts=_events.c.attempts + 1, last_error=None)
)


async def event_exists(session: AsyncSession, event_id: str) -> bool:
    return bool(await session.scalar(select(exists().where(ProviderEvent.id == event_id))))


async def record_event_failure(session: AsyncSession, event_id: str, error: str) -> None:
    await session.execute(
        update(ProviderEvent).where(ProviderEvent.id == event_id, ProviderEvent.processed.is_(False))
        .values(attempts=ProviderEvent.attempts + 1, last_error=error[:2000])
    )


async def unprocessed_events(session: AsyncSession, *, received_before: datetime, max_attempts: int,
                             limit: int) -> list[tuple[str, int, datetime]]:
    rows = await session.execute(
        select(ProviderEvent.id, ProviderEvent.attempts, ProviderEvent.received_at)
        .where(ProviderEvent.processed.is_(False), ProviderEvent.received_at < received_before,
               ProviderEvent.attempts < max_attempts)
        .order_by(ProviderEvent.received_at).limit(limit)
    )
    return [(row[0], int(row[1]), row[2]) for row in rows]


async def open_checkouts_of_lapsed_holds(session: AsyncSession, *, limit: int) -> list[str]:
    """Checkout sessions still pending on our side whose booking's hold is gone: expired, or
    cancelled (also while its checkout was being created)."""
    rows = await session.scalars(
        select(Payment.checkout_session_id)
        .join(Booking, Booking.id == Payment.booking_id)
        .where(Payment.status == PaymentStatus.PENDING, Payment.checkout_session_id.is_not(None),
               Booking.status.in_(HOLD_GONE))
        .limit(limit)
    )
    return [value for value in rows.all() if value]


async def mark_checkouts_failed(session: AsyncSession, checkout_session_ids: list[str]) -> None:
    await session.execute(
        update(Payment)
        .where(Payment.checkout_session_id.in_(checkout_session_ids), Payment.status == PaymentStatus.PENDING)
        .values(status=PaymentStatus.FAILED, updated_at=utcnow())
    )
