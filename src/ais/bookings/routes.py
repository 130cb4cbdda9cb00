"""Passenger booking routes. Every route reaches only the caller's own bookings.

The worked example of docs/CONVENTIONS.md: each route parses, authorises (`CurrentUser`), calls
one service function and returns; the request's unit of work commits after it returned. The two
writes that move money or seats are idempotent (`idempotent(...)`): they end with `idem.respond`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit.service import Actor
from ais.bookings import checkin, presenters, repository, service
from ais.bookings.models import Booking
from ais.bookings.rules import BookingStatus
from ais.bookings.schemas import BoardingPass, BoardingPassesOut, BookingCreate, BookingOut, CheckInOut
from ais.http.api_model import Page
from ais.http.dependencies import RuntimeDep, SessionDep, runtime_of
from ais.http.errors import responses
from ais.http.idempotency import IdempotentRequest, idempotent
from ais.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, next_cursor
from ais.http.rate_limit import enforce
from ais.identity.dependencies import CurrentUser, Principal
from ais.maintenance.dependencies import NotDuringMaintenance
from ais.maintenance.openapi import paused_by_maintenance
from ais.payments import cancellation

router = APIRouter(prefix="/api/v1", tags=["bookings"])


def _actor(request: Request, user: Principal) -> Actor:
    return Actor.from_request(request, user_id=user.id, role=user.role)


async def _limit_booking_creation(request: Request, user: Principal) -> None:
    """BOOKING_RATE_PER_MINUTE per user, counted before the key is claimed (a refused request
    leaves no claim behind)."""
    settings = runtime_of(request).settings
    await enforce(request, "booking-create", str(user.id), limit=settings.booking_rate_per_minute)


# Neither calls the payment provider while it runs (a paid booking's refund is asked for after the
# commit), so each claims its key in its own transaction.
CreateIdempotently = Annotated[IdempotentRequest, Depends(idempotent(
    "bookings.create", body=BookingCreate, before_claim=_limit_booking_creation, calls_provider=False))]
CancelIdempotently = Annotated[IdempotentRequest, Depends(idempotent("bookings.cancel", calls_provider=False))]


@router.post(
    "/bookings", status_code=201, response_model=BookingOut, dependencies=[NotDuringMaintenance],
    responses=paused_by_maintenance(responses(
        "SEATS_UNAVAILABLE", "BOOKING_CONFLICT", "NOT_FOUND", "UNAUTHORIZED", "RATE_LIMITED",
        "IDEMPOTENCY_KEY_REQUIRED", "IDEMPOTENCY_IN_PROGRESS", "IDEMPOTENCY_PAYLOAD_MISMATCH")),
)
async def create_booking(body: BookingCreate, request: Request, user: CurrentUser, runtime: RuntimeDep,
                         session: SessionDep, idem: CreateIdempotently) -> Response:
    """Hold seats for the passengers; the booking is `reserved` until `expiresAt`. Passenger
    types must match the dates of birth on the departure date (infant under 2, child 2-11, both
    with a date of birth; adult 12 and over), one infant per adult, at least one adult. A user
    holds at most `MAX_HELD_SEATS` seats in unpaid bookings, and creates at most
    `BOOKING_RATE_PER_MINUTE` bookings a minute. While maintenance mode is on: 503
    SERVICE_UNAVAILABLE, retryable, with `Retry-After`."""
    settings = runtime.settings
    answered: list[Response] = []

    async def store_answer(booking: Booking) -> None:
        # Stored before the seats are taken: the flight's hot cabin row stays locked from the seat
        # statement to the commit only. It rolls back with the booking if the seats are gone.
        answered[:] = [await idem.respond(201, await presenters.present(session, booking))]

    await service.create_booking(
        session, user_id=user.id, request=body, hold_minutes=settings.hold_minutes,
        max_held_seats=settings.max_held_seats, actor=_actor(request, user), before_seats_taken=store_answer,
    )
    return answered[-1]


@router.get("/bookings", response_model=Page[BookingOut], responses=responses("UNAUTHORIZED"))
async def list_bookings(
    user: CurrentUser, session: SessionDep,
    status: BookingStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[BookingOut]:
    rows = await repository.list_bookings(session, user_id=user.id, status=status,
                                          after=decode_cursor(cursor), limit=limit)
    return Page(items=await presenters.present_many(session, rows), next_cursor=next_cursor(rows, limit))


@router.get("/bookings/{booking_id}", response_model=BookingOut, responses=responses("NOT_FOUND", "UNAUTHORIZED"))
async def get_booking(booking_id: str, user: CurrentUser, session: SessionDep) -> BookingOut:
    """By id or 6-character reference."""
    booking = await service.get_booking(session, id_or_reference=booking_id, user_id=user.id)
    return await presenters.present(session, booking)


@router.post(
    "/bookings/{booking_id}/cancel", response_model=BookingOut,
    responses=responses("NOT_FOUND", "INVALID_STATE_TRANSITION", "BOOKING_CONFLICT", "BOOKING_EXPIRED",
                        "PAYMENT_REQUIRED", "UNAUTHORIZED", "IDEMPOTENCY_KEY_REQUIRED", "IDEMPOTENCY_IN_PROGRESS",
                        "IDEMPOTENCY_PAYLOAD_MISMATCH"),
)
async def cancel_booking(booking_id: str, request: Request, user: CurrentUser, session: SessionDep,
                         idem: CancelIdempotently) -> Response:
    """Cancel: the seats go back at once; a paid booking is refunded in full (status `cancelled`,
    then `refunded` when the provider confirms the refund). After departure: 409 BOOKING_CONFLICT."""
    booking = await service.lock_own_booking(session, id_or_reference=booking_id, user_id=user.id)
    # The cancellation and its stored answer commit together, so a retry replays it; a refund
    # recorded with it is asked of the provider after that commit (or by the refund job).
    await cancellation.cancel_booking(session, booking, actor=_actor(request, user), reason="cancelled by passenger")
    return await idem.respond(200, await presenters.present(session, await _reloaded(session, booking)))


@router.post(
    "/bookings/{booking_id}/check-in", response_model=CheckInOut,
    responses=responses("NOT_FOUND", "INVALID_STATE_TRANSITION", "BOOKING_CONFLICT", "UNAUTHORIZED"),
)
async def check_in(booking_id: str, request: Request, user: CurrentUser, session: SessionDep) -> CheckInOut:
    """Confirmed → checked_in, from 24 h to 1 h before departure; one BCBP boarding pass per
    passenger, also e-mailed to the contact address (and available again from `boarding-passes`)."""
    booking = await service.get_booking(session, id_or_reference=booking_id, user_id=user.id)
    passes = await checkin.check_in(session, booking, actor=_actor(request, user))
    return CheckInOut(
        booking=await presenters.present(session, await _reloaded(session, booking)),
        boarding_passes=[_boarding_pass(p) for p in passes],
    )


@router.get(
    "/bookings/{booking_id}/boarding-passes", response_model=BoardingPassesOut,
    responses=responses("NOT_FOUND", "BOOKING_CONFLICT", "UNAUTHORIZED"),
)
async def boarding_passes(booking_id: str, user: CurrentUser, session: SessionDep) -> BoardingPassesOut:
    """The boarding passes of a checked-in (or boarded) booking again, exactly as check-in
    answered them (an app can show them offline after a reinstall). 409 BOOKING_CONFLICT
    before check-in."""
    booking = await service.get_booking(session, id_or_reference=booking_id, user_id=user.id)
    passes = await checkin.boarding_passes(session, booking)
    return BoardingPassesOut(boarding_passes=[_boarding_pass(p) for p in passes])


def _boarding_pass(issued: checkin.IssuedPass) -> BoardingPass:
    passenger = issued.passenger
    return BoardingPass(passenger=f"{passenger.first_name} {passenger.last_name}",
                        ticket_number=passenger.ticket_number, seat_number=issued.seat,
                        sequence_number=issued.sequence_number, bcbp=issued.bcbp)


async def _reloaded(session: AsyncSession, booking: Booking) -> Booking:
    """The booking as the database now has it (history rows added in this transaction included)."""
    await session.flush()
    found = await repository.booking_with_details(session, booking.id)
    assert found is not None
    return found
