"""After departure nothing is cancellable or refundable by the passenger (SPEC §4): cancel is 409
BOOKING_CONFLICT, before and after the sweep made the booking `no_show`; the seats of the
departed flight never go back; staff may still refund."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from ais.bookings.tasks import complete_departed_flights
from ais.db.base import utcnow
from ais.flights.models import Flight, FlightStatus
from tests.factories import new_flight
from tests.fixtures.payment_flow import booking_events, paid_booking
from tests.payments.support import (
    admin_refund,
    admin_user,
    assert_error,
    cancel,
    deliver_all,
    entries,
    get_booking,
    ledger_of,
    passenger_user,
    payment_intent_of,
    refunds_at_provider,
    seats_left,
    session_id_of,
    transitions,
)


async def _move_flight(runtime, flight_id: str, *, departed_ago: timedelta, **values) -> None:  # type: ignore[no-untyped-def]
    departure = utcnow() - departed_ago
    async with runtime.session_factory() as session:
        await session.execute(update(Flight).where(Flight.id == uuid.UUID(flight_id)).values(
            departure_at=departure, arrival_at=departure + timedelta(hours=1, minutes=45), **values))
        await session.commit()


async def test_a_paid_booking_cannot_be_cancelled_after_departure(http, live, sdk, runtime):
    admin = await admin_user(http, runtime)
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_seats=4)
    booking = await paid_booking(http, live, sdk, runtime, user, flight, count=2)
    intent = await payment_intent_of(sdk, await session_id_of(sdk, booking["id"]))
    await _move_flight(runtime, flight.id, departed_ago=timedelta(hours=2))

    refused = assert_error(await cancel(http, user, booking["id"]), 409, "BOOKING_CONFLICT")
    assert "departed" in refused["message"]
    assert (await get_booking(http, user, booking["id"]))["status"] == "confirmed"
    assert await seats_left(runtime, flight.economy_cabin_id) == 2
    assert await refunds_at_provider(sdk, intent["id"]) == []

    # Never checked in: the departure sweep makes it a no-show; still not cancellable.
    assert await complete_departed_flights(runtime) >= 1
    missed = await get_booking(http, user, booking["id"])
    assert missed["status"] == "no_show"
    assert transitions(missed)[-1] == ("confirmed", "no_show")
    assert_error(await cancel(http, user, booking["id"]), 409, "BOOKING_CONFLICT")
    assert await seats_left(runtime, flight.economy_cabin_id) == 2

    # Staff may still refund (a goodwill gesture); the seats stay with the departed flight.
    refund = await admin_refund(http, admin, booking["id"], reason="goodwill after a missed flight")
    assert refund.status_code == 201, refund.text
    codes = await deliver_all(http, live, await booking_events(sdk, booking["id"], types=("charge.refunded",)))
    assert set(codes) == {200}
    assert entries(await ledger_of(http, admin, booking["id"])) == sorted(
        [("charge", booking["totalAmount"]), ("refund", booking["totalAmount"])])
    assert await seats_left(runtime, flight.economy_cabin_id) == 2


async def test_a_cancelled_flight_never_departs(http, live, sdk, runtime):
    """The airline cancelled the flight: past its departure time its passengers are no no-shows,
    and may still cancel and get their money back."""
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_seats=4)
    booking = await paid_booking(http, live, sdk, runtime, user, flight)
    await _move_flight(runtime, flight.id, departed_ago=timedelta(hours=2), status=FlightStatus.CANCELLED)
    await complete_departed_flights(runtime)
    assert (await get_booking(http, user, booking["id"]))["status"] == "confirmed"
    cancelled = await cancel(http, user, booking["id"])
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
