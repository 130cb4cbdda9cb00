from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from ais.http.dependencies import SessionDep
from ais.http.errors import responses
from ais.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, next_cursor
from ais.identity.dependencies import AdminUser
from ais.ledger import repository, service
from ais.ledger.models import LedgerEntry, LedgerEntryType
from ais.ledger.schemas import LedgerEntryOut, LedgerPage, LedgerTotals
from ais.money import format_amount

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


def entry_out(entry: LedgerEntry) -> LedgerEntryOut:
    return LedgerEntryOut(
        id=entry.id, type=entry.type.value, booking_id=entry.booking_id,
        amount=format_amount(entry.amount_minor, entry.currency), currency=entry.currency,
        payment_intent_id=entry.payment_intent_id, charge_id=entry.charge_id, refund_id=entry.refund_id,
        dispute_id=entry.dispute_id, event_id=entry.event_id, created_at=entry.created_at,
    )


def totals_out(currency: str, by_type: dict[LedgerEntryType, int]) -> LedgerTotals:
    sums = service.totals(by_type)
    return LedgerTotals(
        charged=format_amount(sums.charged, currency), refunded=format_amount(sums.refunded, currency),
        disputed=format_amount(sums.disputed, currency), net=format_amount(sums.net, currency),
        currency=currency,
    )


@router.get("/ledger", response_model=LedgerPage, responses=responses("UNAUTHORIZED", "FORBIDDEN"))
async def ledger(
    admin: AdminUser, session: SessionDep,
    booking_id: Annotated[uuid.UUID | None, Query(alias="bookingId")] = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    type: LedgerEntryType | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> LedgerPage:
    """Money movements, newest first, with totals over the whole filter (not just this page).
    `totals` is given when the filter has one currency; `totalsByCurrency` always."""
    rows = await repository.list_entries(session, booking_id=booking_id, currency=currency, entry_type=type,
                                         after=decode_cursor(cursor), limit=limit)
    sums = await repository.totals_by_currency(session, booking_id=booking_id, currency=currency)
    by_currency = [totals_out(code, sums[code]) for code in sorted(sums)]
    return LedgerPage(items=[entry_out(r) for r in rows], next_cursor=next_cursor(rows, limit),
                      totals=by_currency[0] if len(by_currency) == 1 else None, totals_by_currency=by_currency)
