"""The ledger's rules: every money movement is written once (the same charge, refund or dispute
reported by two events, a retry or reconciliation adds nothing), and the totals a booking or a
report is judged by. Payments write through here; the ledger knows nothing of payments."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ais.ledger import repository
from ais.ledger.models import LedgerEntryType

T = LedgerEntryType


async def record_entry(session: AsyncSession, *, type: LedgerEntryType, booking_id: uuid.UUID, amount_minor: int,
                       currency: str, provider_object_id: str, **provider_ids: Any) -> bool:
    """Write the movement unless (type, provider object id) is in the ledger already; True when this
    call wrote it (the caller then applies what follows from it, exactly once)."""
    return await repository.record_entry(session, type=type, booking_id=booking_id, amount_minor=amount_minor,
                                         currency=currency, provider_object_id=provider_object_id, **provider_ids)


async def charged(session: AsyncSession, booking_id: uuid.UUID, *, payment_intent_id: str | None = None) -> int:
    """Money captured for the booking (or one PaymentIntent of it), in minor units."""
    return await repository.charged(session, booking_id, payment_intent_id=payment_intent_id)


async def refunded(session: AsyncSession, booking_id: uuid.UUID, *, payment_intent_id: str | None = None) -> int:
    """Money refunded (fully or partly) for the booking (or one PaymentIntent of it)."""
    return await repository.refunded(session, booking_id, payment_intent_id=payment_intent_id)


@dataclass(frozen=True, slots=True)
class Totals:
    charged: int
    refunded: int
    disputed: int  # disputes lost or open: disputed minus reversed

    @property
    def net(self) -> int:
        return self.charged - self.refunded - self.disputed


def totals(by_type: dict[LedgerEntryType, int]) -> Totals:
    """Sums per entry type (one currency) → what was charged, refunded, disputed, and the net."""
    return Totals(
        charged=by_type.get(T.CHARGE, 0),
        refunded=by_type.get(T.REFUND, 0) + by_type.get(T.PARTIAL_REFUND, 0),
        disputed=by_type.get(T.DISPUTE, 0) - by_type.get(T.DISPUTE_REVERSAL, 0),
    )
