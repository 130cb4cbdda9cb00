"""Ledger writes are insert-if-absent on (type, provider object id): a money movement reported
twice (two events, a retry, reconciliation) is written once."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ais.db.base import utcnow
from ais.db.keyset import newest_first_page
from ais.db.upsert import insert_if_absent
from ais.ledger.models import LedgerEntry, LedgerEntryType


async def record_entry(session: AsyncSession, *, type: LedgerEntryType, booking_id: uuid.UUID,
                       amount_minor: int, currency: str, provider_object_id: str,
                       **provider_ids: Any) -> bool:
    """Write the entry unless it exists; True when this call wrote it."""
    return await insert_if_absent(
        session,
        LedgerEntry.__table__,
        {
            "id": uuid.uuid4(),
            "type": type.value,
            "booking_id": booking_id,
            "amount_minor": amount_minor,
            "currency": currency,
            "provider_object_id": provider_object_id,
            "created_at": utcnow(),
            **provider_ids,
        },
        ["type", "provider_object_id"],
    )


async def charged(session: AsyncSession, booking_id: uuid.UUID, *, payment_intent_id: str | None = None) -> int:
    return await _sum(session, _CHARGES, booking_id, payment_intent_id)


async def refunded(session: AsyncSession, booking_id: uuid.UUID, *, payment_intent_id: str | None = None) -> int:
    return await _sum(session, _REFUNDS, booking_id, payment_intent_id)


_CHARGES = (LedgerEntryType.CHARGE,)
_REFUNDS = (LedgerEntryType.REFUND, LedgerEntryType.PARTIAL_REFUND)


async def _sum(session: AsyncSession, types: tuple[LedgerEntryType, ...], booking_id: uuid.UUID,
               payment_intent_id: str | None) -> int:
    params: dict[str, Any] = {"booking_id": booking_id}
    if payment_intent_id is not None:
        params["payment_intent_id"] = payment_intent_id
    return int(await session.scalar(_sum_statement(types, payment_intent_id is not None), params) or 0)


@functools.cache
def _sum_statement(types: tuple[LedgerEntryType, ...], of_one_intent: bool) -> Any:
    """Built once per kind (the settlement asks on every captured payment): the booking's entries
    of `types`, summed, optionally of one PaymentIntent only."""
    statement = select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.booking_id == bindparam("booking_id"),
        (LedgerEntry.type == types[0]) if len(types) == 1 else LedgerEntry.type.in_(types))
    if of_one_intent:
        statement = statement.where(LedgerEntry.payment_intent_id == bindparam("payment_intent_id"))
    return statement


async def list_entries(session: AsyncSession, *, booking_id: uuid.UUID | None, currency: str | None,
                       entry_type: LedgerEntryType | None, after: tuple[Any, uuid.UUID] | None,
                       limit: int) -> list[LedgerEntry]:

    statement = select(LedgerEntry)
    if booking_id is not None:
        statement = statement.where(LedgerEntry.booking_id == booking_id)
    if currency is not None:
        statement = statement.where(LedgerEntry.currency == currency)
    if entry_type is not None:
        statement = statement.where(LedgerEntry.type == entry_type)
    return list((await session.scalars(newest_first_page(statement, LedgerEntry, after, limit))).all())


async def totals_by_currency(session: AsyncSession, *, booking_id: uuid.UUID | None,
                             currency: str | None) -> dict[str, dict[LedgerEntryType, int]]:
    """Sum per currency and entry type over the same filter as the list (all pages)."""
    statement = select(LedgerEntry.currency, LedgerEntry.type, func.sum(LedgerEntry.amount_minor)).group_by(
        LedgerEntry.currency, LedgerEntry.type)
    if booking_id is not None:
        statement = statement.where(LedgerEntry.booking_id == booking_id)
    if currency is not None:
        statement = statement.where(LedgerEntry.currency == currency)
    result: dict[str, dict[LedgerEntryType, int]] = {}
    for row_currency, row_type, amount in (await session.execute(statement)).all():
        result.setdefault(row_currency, {})[LedgerEntryType(row_type)] = int(amount or 0)
    return result
