"""Staff booking routes: look up any booking, gate boarding."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from ais.audit.service import Actor
from ais.bookings import presenters, repository, service
from ais.bookings.rules import BookingStatus
from ais.bookings.schemas import BookingOut
from ais.http.api_model import Page
from ais.http.dependencies import SessionDep
from ais.http.errors import responses
from ais.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, next_cursor
from ais.identity.dependencies import AdminUser

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/bookings", response_model=Page[BookingOut], responses=responses("UNAUTHORIZED", "FORBIDDEN"))
async def search_bookings(
    admin: AdminUser, session: SessionDep,
    status: BookingStatus | None = None,
    flight_id: Annotated[uuid.UUID | None, Query(alias="flightId")] = None,
    reference: Annotated[str | None, Query(max_length=6, min_length=6)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[BookingOut]:
    rows = await repository.list_bookings(session, status=status, flight_id=flight_id, reference=reference,
                                          after=decode_cursor(cursor), limit=limit)
    return Page(items=await presenters.present_many(session, rows), next_cursor=next_cursor(rows, limit))


@router.get("/bookings/{booking_id}", response_model=BookingOut,
            responses=responses("NOT_FOUND", "UNAUTHORIZED", "FORBIDDEN"))
async def get_any_booking(booking_id: str, admin: AdminUser, session: SessionDep) -> BookingOut:
    booking = await service.get_booking(session, id_or_reference=booking_id, user_id=None)
    return await presenters.present(session, booking)


@router.post("/bookings/{booking_id}/board", response_model=BookingOut,
             responses=responses("NOT_FOUND", "INVALID_STATE_TRANSITION", "UNAUTHORIZED", "FORBIDDEN"))
async def board(booking_id: str, request: Request, admin: AdminUser, session: SessionDep) -> BookingOut:
    """Gate: checked_in → boarded."""
    actor = Actor.from_request(request, user_id=admin.id, role=admin.role)
    booking = await service.get_booking(session, id_or_reference=booking_id, user_id=None)
    await service.board(session, booking, actor=actor)
    await session.flush()  # the history row added above is read back with the booking
    found = await repository.booking_with_details(session, booking.id)
    assert found is not None
    return await presenters.present(session, found)
