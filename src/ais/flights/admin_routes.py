"""Admin flight routes: publish flights and change status, times, fares and capacity.

Each route parses, authorizes (AdminUser) and calls one service function; the request's unit of
work commits, and the search cache is invalidated only after that commit (the service registers
it), so no search can cache the pre-change state under the new version.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from ais.audit.service import Actor
from ais.flights import admin_service
from ais.flights.schemas import FlightCreate, FlightDetail, FlightPatch
from ais.flights.service import parse_flight_id
from ais.http.dependencies import SessionDep
from ais.http.errors import responses
from ais.identity.dependencies import AdminUser

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.post(
    "/flights", status_code=status.HTTP_201_CREATED, response_model=FlightDetail,
    responses=responses("UNAUTHORIZED", "TOKEN_EXPIRED", "FORBIDDEN", "BOOKING_CONFLICT"),
)
async def create_flight(
    body: FlightCreate, admin: AdminUser, request: Request, session: SessionDep
) -> FlightDetail:
    """Publish a flight. Times are ISO 8601 with an offset; `price` is a decimal string with at
    most the currency's decimals (JPY 0, SAR 2, KWD 3). A flight number already departing at
    that time is a BOOKING_CONFLICT."""
    actor = Actor.from_request(request, user_id=admin.id, role=admin.role)
    return await admin_service.create_flight(session, actor, body)


@router.patch(
    "/flights/{flight_id}", response_model=FlightDetail,
    responses=responses("UNAUTHORIZED", "TOKEN_EXPIRED", "FORBIDDEN", "NOT_FOUND", "BOOKING_CONFLICT",
                        "INVALID_STATE_TRANSITION"),
)
async def update_flight(
    flight_id: str, body: FlightPatch, admin: AdminUser, request: Request, session: SessionDep
) -> FlightDetail:
    """Change status, times, and per cabin fare and capacity, all or nothing. Capacity never
    drops below the seats already sold or held (BOOKING_CONFLICT)."""
    actor = Actor.from_request(request, user_id=admin.id, role=admin.role)
    return await admin_service.update_flight(session, actor, parse_flight_id(flight_id), body)
