"""After booking: hold expiry, payment into the ledger, check-in with BCBP, boarding, departure."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from ais.audit.service import Actor
from ais.bookings import repository
from ais.bookings.models import Booking
from ais.bookings.rules import BookingStatus
from ais.bookings.service import transition
from ais.bookings.tasks import complete_departed_flights, expire_stale_holds
from ais.db.base import utcnow
from ais.errors import PaymentRequired
from ais.flights.models import Flight
from ais.ledger import service as ledger
from ais.ledger.models import LedgerEntryType
from tests.bookings.support import seats_left
from tests.factories import book, idempotency_key, new_flight


async def _set(runtime, model, row_id, **values):
    async with runtime.session_factory() as session:
        await session.execute(update(model).where(model.id == uuid.UUID(str(row_id))).values(**values))
        await session.commit()


async def test_stale_holds_expire_once_and_give_seats_back_once(client, runtime, passenger):
    flight = await new_flight(runtime, economy_seats=5)
    stale = (await book(client, passenger, flight, count=2)).json()
    fresh = (await book(client, passenger, flight, count=1)).json()
    await _set(runtime, Booking, stale["id"], expires_at=utcnow() - timedelta(seconds=1))
    assert await seats_left(runtime, flight.economy_cabin_id) == 2
    assert await expire_stale_holds(runtime) >= 1
    assert await expire_stale_holds(runtime) == 0
    assert await seats_left(runtime, flight.economy_cabin_id) == 4
    expired = (await client.get(f"/api/v1/bookings/{stale['id']}", headers=passenger.headers)).json()
    assert expired["status"] == "expired"
    assert expired["statusHistory"][-1]["reason"] == "seat hold expired"
    still = (await client.get(f"/api/v1/bookings/{fresh['id']}", headers=passenger.headers)).json()
    assert still["status"] == "reserved"
    cancel = await client.post(f"/api/v1/bookings/{stale['id']}/cancel",
                               headers={**passenger.headers, **idempotency_key()})
    assert cancel.status_code == 409 and cancel.json()["code"] == "BOOKING_EXPIRED"


async def _checkout_opened(session: AsyncSession, booking_id: str, actor: Actor) -> Booking:
    """The booking, moved to `pending` in the session's transaction (not committed)."""
    row = await repository.booking_with_details(session, uuid.UUID(booking_id))
    await transition(session, row, BookingStatus.PENDING, reason="checkout", actor=actor)
    return row


async def test_never_confirmed_without_a_charge_in_the_ledger(client, runtime, passenger):
    flight = await new_flight(runtime)
    booking = (await book(client, passenger, flight)).json()
    actor = Actor.system("test")
    async with runtime.session_factory() as session:
        row = await _checkout_opened(session, booking["id"], actor)
        with pytest.raises(PaymentRequired):
            await transition(session, row, BookingStatus.PAID, reason="claimed", actor=actor)
        await session.rollback()


async def test_a_charge_read_in_a_transaction_that_rolled_back_covers_nothing_after_it(client, runtime, passenger):
    """The guard reads the ledger once per transaction and booking: a charge it saw in a
    transaction that rolled back is gone, and the next transaction of the same session reads again."""
    flight = await new_flight(runtime)
    booking = (await book(client, passenger, flight)).json()
    actor = Actor.system("test")
    async with runtime.session_factory() as session:
        row = await _checkout_opened(session, booking["id"], actor)
        await ledger.record_entry(session, type=LedgerEntryType.CHARGE, booking_id=row.id,
                                  amount_minor=row.total_minor, currency=row.currency,
                                  provider_object_id=f"pi_rolled_back_{uuid.uuid4().hex}")
        await transition(session, row, BookingStatus.PAID, reason="paid", actor=actor)
        await session.rollback()

        row = await _checkout_opened(session, booking["id"], actor)  # from `reserved` again: rolled back
        with pytest.raises(PaymentRequired):
            await transition(session, row, BookingStatus.PAID, reason="claimed", actor=actor)
        await session.rollback()


async def test_confirmed_booking_has_ticket_numbers(client, runtime, passenger, pay_and_confirm):
    flight = await new_flight(runtime)
    booking = (await book(client, passenger, flight, count=2)).json()
    await pay_and_confirm(passenger, booking["id"])
    confirmed = (await client.get(f"/api/v1/bookings/{booking['id']}", headers=passenger.headers)).json()
    assert confirmed["status"] == "confirmed"
    assert confirmed["expiresAt"] is None
    tickets = [p["ticketNumber"] for p in confirmed["passengers"]]
    assert all(t and len(t) == 13 and t.isdigit() for t in tickets) and len(set(tickets)) == 2
    assert [h["to"] for h in confirmed["statusHistory"]] == ["reserved", "pending", "paid", "confirmed"]


async def test_cancelling_a_paid_booking_with_nothing_left_to_refund_changes_nothing(client, runtime, passenger,
                                                                                     admin, live, pay_and_confirm):
    """Staff have asked the provider to refund everything (the refund events have not come back
    yet, so the booking is still confirmed): the passenger's cancel has nothing left to refund and
    is refused whole (the status change and the seat release roll back with it). The refunds
    themselves are in tests/payments."""
    flight = await new_flight(runtime, economy_seats=5)
    booking = (await book(client, passenger, flight)).json()
    await pay_and_confirm(passenger, booking["id"])
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        refund = await http.post(f"/api/v1/admin/bookings/{booking['id']}/refunds", json={"reason": "goodwill"},
                                 headers={**admin.headers, **idempotency_key()})
    assert refund.status_code == 201, refund.text
    response = await client.post(f"/api/v1/bookings/{booking['id']}/cancel",
                                 headers={**passenger.headers, **idempotency_key()})
    assert response.status_code == 409 and response.json()["code"] == "BOOKING_CONFLICT"
    after = (await client.get(f"/api/v1/bookings/{booking['id']}", headers=passenger.headers)).json()
    assert after["status"] == "confirmed"
    assert await seats_left(runtime, flight.economy_cabin_id) == 4


async def test_check_in_window_boarding_passes_gate_and_departure(client, runtime, passenger, admin, pay_and_confirm):
    flight = await new_flight(runtime, departs_in=timedelta(days=3), economy_seats=10)
    booking = (await book(client, passenger, flight, count=2, infants=1)).json()
    early = await client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=passenger.headers)
    assert early.status_code == 409 and early.json()["code"] == "INVALID_STATE_TRANSITION"  # not paid yet
    await pay_and_confirm(passenger, booking["id"])
    too_early = await client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=passenger.headers)
    assert too_early.status_code == 409 and too_early.json()["code"] == "BOOKING_CONFLICT"
    departure = utcnow() + timedelta(hours=5)
    await _set(runtime, Flight, flight.id, departure_at=departure, arrival_at=departure + timedelta(hours=2))

    checked = await client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=passenger.headers)
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["booking"]["status"] == "checked_in"
    passes = body["boardingPasses"]
    assert [p["seatNumber"] for p in passes] == ["10A", "10B", "10B"]  # the infant shares a lap
    assert all(len(p["bcbp"]) == 60 and p["bcbp"].startswith("M1") for p in passes)
    assert passes[0]["bcbp"][23:29] == booking["reference"]
    again = await client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=passenger.headers)
    assert again.status_code == 409 and again.json()["code"] == "INVALID_STATE_TRANSITION"

    other = (await book(client, passenger, flight)).json()
    await pay_and_confirm(passenger, other["id"])
    second = await client.post(f"/api/v1/bookings/{other['id']}/check-in", headers=passenger.headers)
    assert second.json()["boardingPasses"][0]["seatNumber"] == "10C"  # seats are never handed out twice

    boarded = await client.post(f"/api/v1/admin/bookings/{booking['id']}/board", headers=admin.headers)
    assert boarded.status_code == 200 and boarded.json()["status"] == "boarded"
    twice = await client.post(f"/api/v1/admin/bookings/{booking['id']}/board", headers=admin.headers)
    assert twice.status_code == 409

    # The flight leaves and lands: boarded → completed, checked in but never boarded → no_show.
    past = utcnow() - timedelta(hours=3)
    await _set(runtime, Flight, flight.id, departure_at=past, arrival_at=past + timedelta(hours=2))
    assert await complete_departed_flights(runtime) >= 2
    done = (await client.get(f"/api/v1/bookings/{booking['id']}", headers=passenger.headers)).json()
    missed = (await client.get(f"/api/v1/bookings/{other['id']}", headers=passenger.headers)).json()
    assert done["status"] == "completed"
    assert missed["status"] == "no_show"
    assert await complete_departed_flights(runtime) == 0
