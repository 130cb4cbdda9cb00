"""The 5d2e8a41c7f3 migration gives passengers checked in before it their check-in sequence
number back (from the seat they were given), so their boarding passes can be issued again."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from ais.bookings import bcbp
from ais.bookings.models import Booking, Passenger, PassengerType
from ais.bookings.rules import BookingStatus
from ais.config import Settings
from ais.db import migrate
from ais.db.base import utcnow
from ais.db.urls import sync_url
from ais.flights.models import Airport, Cabin, CabinClass, Flight
from ais.identity.models import User
from tests.test_migrations import scratch  # noqa: F401  (the scratch-database fixture)

BEFORE = "bb326c137c81"


def _seat_passengers(settings: Settings) -> None:
    engine = create_engine(sync_url(settings.effective_database_url))
    try:
        with Session(engine) as session:
            user = User(email="old@example.com", password_hash="x", full_name="Old Passenger")
            session.add_all([
                Airport(code="RUH", name="Riyadh", city="Riyadh", country="SA", timezone="Asia/Riyadh"),
                Airport(code="JED", name="Jeddah", city="Jeddah", country="SA", timezone="Asia/Riyadh"),
                user,
            ])
            departure = utcnow() + timedelta(hours=5)
            flight = Flight(flight_number="SV100", origin="RUH", destination="JED", departure_at=departure,
                            arrival_at=departure + timedelta(hours=2))
            session.add(flight)
            session.flush()
            cabins = {
                kind: Cabin(flight_id=flight.id, cabin_class=kind, capacity=30, seats_available=20, fare_minor=100,
                            currency="SAR")
                for kind in CabinClass
            }
            session.add_all(cabins.values())
            session.flush()
            seats = {  # reference → cabin, [(passenger type, seat)]
                "OLDECO": (CabinClass.ECONOMY, [(PassengerType.ADULT, "10A"), (PassengerType.ADULT, "11C"),
                                                (PassengerType.INFANT, "11C")]),
                "OLDBIZ": (CabinClass.BUSINESS, [(PassengerType.ADULT, "2D")]),
                "NOTYET": (CabinClass.ECONOMY, [(PassengerType.ADULT, None)]),
            }
            for reference, (kind, people) in seats.items():
                booking = Booking(reference=reference, user_id=user.id, flight_id=flight.id, cabin_id=cabins[kind].id,
                                  cabin_class=kind, seat_count=len(people), contact_email="old@example.com",
                                  total_minor=100, currency="SAR", status=BookingStatus.CHECKED_IN)
                session.add(booking)
                session.flush()
                session.add_all(Passenger(booking_id=booking.id, position=i, first_name=f"P{i}", last_name=reference,
                                          type=kind_of, seat_number=seat)
                                for i, (kind_of, seat) in enumerate(people))
            session.commit()
    finally:
        engine.dispose()


def test_passengers_checked_in_before_it_get_their_sequence_number_from_the_seat(scratch: Settings) -> None:  # noqa: F811
    migrate.upgrade(scratch)
    _seat_passengers(scratch)
    migrate.downgrade(scratch, BEFORE)  # the rows now have seats and no sequence, as before
    migrate.upgrade(scratch)

    engine = create_engine(sync_url(scratch.effective_database_url))
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(Passenger.last_name, Passenger.seat_number, Passenger.checkin_sequence, Booking.cabin_class)
                .join(Booking, Booking.id == Passenger.booking_id).order_by(Passenger.last_name, Passenger.position)
            ).all()
    finally:
        engine.dispose()
    assert [(reference, seat, sequence) for reference, seat, sequence, _ in rows] == [
        ("NOTYET", None, None),
        ("OLDBIZ", "2D", 7),  # business seats ACDF from row 1: 1A 1C 1D 1F 2A 2C 2D
        ("OLDECO", "10A", 1),
        ("OLDECO", "11C", 9),
        ("OLDECO", "11C", 9),  # the lap infant shares its adult's seat and number
    ]
    # The same seat map as check-in uses: issuing the pass again gives the seat it had.
    for _, seat, sequence, cabin in rows:
        if sequence is not None:
            assert bcbp.seat_for_sequence(cabin, sequence) == seat
