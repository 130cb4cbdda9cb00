"""Admin routes of maintenance mode (SPEC §10)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ais.audit.service import Actor
from ais.http.dependencies import MaintenanceDep, SessionDep
from ais.http.errors import responses
from ais.identity.dependencies import AdminUser
from ais.maintenance import service
from ais.maintenance.schemas import MaintenanceOut, MaintenanceUpdate

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/maintenance", response_model=MaintenanceOut,
            responses=responses("UNAUTHORIZED", "TOKEN_EXPIRED", "FORBIDDEN"))
async def get_maintenance(_admin: AdminUser, session: SessionDep) -> MaintenanceOut:
    """Whether maintenance mode is on, as the database has it now."""
    return MaintenanceOut.of(await service.read(session))


@router.put("/maintenance", response_model=MaintenanceOut,
            responses=responses("UNAUTHORIZED", "TOKEN_EXPIRED", "FORBIDDEN"))
async def set_maintenance(body: MaintenanceUpdate, admin: AdminUser, request: Request, session: SessionDep,
                          cache: MaintenanceDep) -> MaintenanceOut:
    """Switch maintenance mode on or off. While on, `POST /bookings` and `POST /bookings/{id}/pay`
    answer 503 SERVICE_UNAVAILABLE (retryable, `Retry-After: retryAfterSeconds`, the message in
    `details`); search, reads, cancellations, check-in, webhooks and the admin API keep working.
    Every API process obeys it within a second (this one at once). Omitted fields take their
    defaults: a generic message, 300 seconds. Audited (old and new state)."""
    actor = Actor.from_request(request, user_id=admin.id, role=admin.role)
    state = await service.switch(session, actor, enabled=body.enabled, message=body.message,
                                 retry_after_seconds=body.retry_after_seconds, cache=cache)
    return MaintenanceOut.of(state)
