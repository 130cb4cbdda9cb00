"""The reconciliation result (SPEC §5): `correlationId, startedAt, completedAt, dryRun, scanned, fixed,
failed, skipped, details[]` — the same body from the admin route, `ais reconcile --json` and the job."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictBool

from ais.http.api_model import ApiModel, StrictApiModel

Outcome = Literal["fixed", "would_fix", "failed"]


class ReconciliationRequest(StrictApiModel):
    dry_run: StrictBool = Field(
        default=True,
        description="true (the default, also when the body is omitted): report what would be fixed and change "
                    "nothing. false: apply what the provider reports and our records miss.",
    )


class ReconciliationDetail(ApiModel):
    """One payment that was fixed (or, in a dry run, would be), or that needs a person."""

    payment_id: uuid.UUID
    booking_id: uuid.UUID
    booking_reference: str
    outcome: Outcome
    action: str = Field(
        description="The main action: apply_capture | apply_failure | apply_refunds (would_… in a dry run), or, "
                    "for a failure, mismatch | provider_unreachable | provider_object_missing | error.")
    actions: list[str] = Field(description="Every correction applied (or that would be) to this payment.")
    reason: str
    retryable: bool = False
    checkout_session_id: str | None = None
    payment_intent_id: str | None = None
    payment_status: str = Field(description="Our payment's status before this run.")
    booking_status: str = Field(description="The booking's status before this run.")
    payment_status_after: str | None = None
    booking_status_after: str | None = None
    problems: list[dict[str, Any]] = Field(
        default_factory=list,
        description="What disagrees and cannot be fixed here: {code, message, ours?, provider?}; amounts are "
                    "decimal strings in the payment's currency.")


class ReconciliationResult(ApiModel):
    correlation_id: str
    started_at: datetime
    completed_at: datetime
    dry_run: bool
    scanned: int = Field(description="Payments compared with the provider.")
    fixed: int = Field(description="Payments corrected (in a dry run: that would be corrected).")
    failed: int = Field(description="Payments with a mismatch that cannot be fixed here, or the provider unreachable.")
    skipped: int = Field(description="Payments that agree with the provider, or are still in progress there.")
    details: list[ReconciliationDetail]
