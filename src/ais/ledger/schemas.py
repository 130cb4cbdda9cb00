from __future__ import annotations

import uuid
from datetime import datetime

from ais.http.api_model import ApiModel


class LedgerEntryOut(ApiModel):
    id: uuid.UUID
    type: str
    booking_id: uuid.UUID
    amount: str
    currency: str
    payment_intent_id: str | None
    charge_id: str | None
    refund_id: str | None
    dispute_id: str | None
    event_id: str | None
    created_at: datetime


class LedgerTotals(ApiModel):
    charged: str
    refunded: str
    disputed: str
    net: str
    currency: str


class LedgerPage(ApiModel):
    items: list[LedgerEntryOut]
    next_cursor: str | None = None
    totals: LedgerTotals | None
    totals_by_currency: list[LedgerTotals]
