"""SPEC §7: the boarding passes of a checked-in booking can be fetched again (an app reinstalled
at the airport), exactly as check-in answered them; and check-in e-mails them."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from ais.bookings.tasks import complete_departed_flights
from ais.db.base import utcnow
from ais.flights.models import Flight
from ais.notifications.models import OutboxMessage
from tests.factories import book, new_flight
from tests.ops.contract import assert_error


async def _depart_in(runtime, flight_id: str, delta: timedelta) -> None:
    departure = utcnow() + delta
    async with runtime.session_factory() as session:
        await session.execute(update(Flight).where(Flight.id == uuid.UUID(flight_id))
                              .values(departure_at=departure, arrival_at=departure + timedelta(hours=2)))
        await session.commit()


def passes_url(booking_id: str) -> str:
    return f"/api/v1/bookings/{booking_id}/boarding-passes"


async def test_boarding_passes_are_shown_again_exactly_as_at_check_in(client, runtime, passenger, other_passenger,
                                                                      admin, pay_and_confirm):
    flight = await new_flight(runtime, departs_in=timedelta(days=3), economy_seats=10)
    booking = (await book(client, passenger, flight, count=2, infants=1)).json()
    unpaid = assert_error(await client.get(passes_url(booking["id"]), headers=passenger.headers), 409,
                          "BOOKING_CONFLICT")
    assert unpaid["details"]["status"] == "reserved"
    await pay_and_confirm(passenger, booking["id"])
    assert_error(await client.get(passes_url(booking["id"]), headers=passenger.headers), 409, "BOOKING_CONFLICT")

    await _depart_in(runtime, flight.id, timedelta(hours=5))
    checked = await client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=passenger.headers)
    assert checked.status_code == 200, checked.text
    issued = checked.json()["boardingPasses"]
    assert len(issued) == 3

    again = await client.get(passes_url(booking["id"]), headers=passenger.headers)
    assert again.status_code == 200, again.text
    assert again.json() == {"boardingPasses": issued}
    by_reference = await client.get(passes_url(booking["reference"]), headers=passenger.headers)
    assert by_reference.json() == {"boardingPasses": issued}

    # Another passenger cannot even learn that the booking exists; a stranger must sign in.
    assert_error(await client.get(passes_url(booking["id"]), headers=other_passenger.headers), 404, "NOT_FOUND")
    assert_error(await client.get(passes_url(str(uuid.uuid4())), headers=passenger.headers), 404, "NOT_FOUND")
    assert_error(await client.get(passes_url(booking["id"])), 401, "UNAUTHORIZED")

    # Still there once boarded; gone once the flight is over.
    boarded = await client.post(f"/api/v1/admin/bookings/{booking['id']}/board", headers=admin.headers)
    assert boarded.status_code == 200
    assert (await client.get(passes_url(booking["id"]), headers=passenger.headers)).json() == {"boardingPasses": issued}
    await _depart_in(runtime, flight.id, -timedelta(hours=3))
    await complete_departed_flights(runtime)
    assert_error(await client.get(passes_url(booking["id"]), headers=passenger.headers), 409, "BOOKING_CONFLICT")


async def test_check_in_e_mails_the_boarding_passes(client, runtime, passenger, pay_and_confirm):
    flight = await new_flight(runtime, departs_in=timedelta(days=3))
    booking = (await book(client, passenger, flight, count=2, contact_email="nora@example.com")).json()
    await pay_and_confirm(passenger, booking["id"])
    await _depart_in(runtime, flight.id, timedelta(hours=6))
    issued = (await client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=passenger.headers)).json()

    async with runtime.session_factory() as session:
        [message] = (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.booking_id == uuid.UUID(booking["id"]), OutboxMessage.kind == "checked_in"))).all()
    assert message.recipient == "nora@example.com"
    assert message.subject == f"Your boarding passes for booking {booking['reference']}"
    for boarding_pass in issued["boardingPasses"]:
        assert boarding_pass["bcbp"] in message.body_text
        assert f"seat {boarding_pass['seatNumber']}" in message.body_text
