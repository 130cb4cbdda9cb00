"""`POST /api/v1/admin/reconciliation` (SPEC §11): run reconciliation now and answer its result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request

from ais.audit.service import Actor
from ais.http.errors import responses
from ais.identity.dependencies import AdminUser
from ais.reconciliation.schemas import ReconciliationRequest, ReconciliationResult
from ais.reconciliation.service import reconcile

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.post("/reconciliation", response_model=ReconciliationResult,
             responses=responses("UNAUTHORIZED", "FORBIDDEN"))
async def run_reconciliation(request: Request, admin: AdminUser,
                             body: Annotated[ReconciliationRequest | None, Body()] = None) -> ReconciliationResult:
    """Compare pending and recently updated payments with the provider.

    **`dryRun` defaults to true** (also when the body is omitted): nothing changes and `fixed`
    counts what a real run would fix (`would_…` actions). `{"dryRun": false}` applies what the
    provider reports and our records miss (a missed webhook), exactly as the webhook would, and
    writes an audit entry. Running it again, or alongside the daily job, is safe: what is already
    recorded is never recorded twice. No `Idempotency-Key`: the run itself is idempotent."""
    actor = Actor.from_request(request, user_id=admin.id, role=admin.role)
    dry_run = True if body is None else body.dry_run
    # The service owns its transactions (one per payment, provider calls outside them): no request session.
    return await reconcile(request.app.state.runtime, dry_run=dry_run, actor=actor)
