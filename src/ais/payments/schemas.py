from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from ais.http.api_model import ApiModel, StrictApiModel


class CheckoutOut(ApiModel):
    checkout_url: str
    session_id: str
    expires_at: datetime


class RefundRequest(StrictApiModel):
    amount: str | None = Field(default=None, max_length=32, description="Decimal string; all that is left if omitted",
                               examples=["150.00"])
    reason: str = Field(min_length=1, max_length=200, examples=["schedule change: goodwill refund"])


class RefundOut(ApiModel):
    id: uuid.UUID
    booking_id: uuid.UUID
    amount: str
    currency: str
    reason: str
    status: str
    provider_refund_id: str | None
    created_at: datetime


class ProviderEventOut(ApiModel):
    id: str
    type: str
    processed: bool
    processed_at: datetime | None
    attempts: int
    last_error: str | None
    received_at: datetime
    payload: dict[str, Any]


class ProviderEventPage(ApiModel):
    items: list[ProviderEventOut]
    next_cursor: str | None = None
