"""Demo seed: real airports with their zones, a month of flights, idempotent, fast."""

from __future__ import annotations

import time
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from ais.flights.models import Airport, Cabin, CabinClass, Flight
from ais.flights.seed import AIRPORTS, TIMETABLE, seed_demo

START = date(2030, 3, 15)  # spans the change to summer time in London (31 March 2030)


@pytest.fixture(scope="module")
async def seeded(empty_sessions):
    async with empty_sessions() as session:
        started = time.perf_counter()
        created = await seed_demo(session, days=30, start=START)
        await session.commit()
        elapsed = time.perf_counter() - started
    return created, elapsed


async def counts(sessions):
    async with sessions() as session:
        return (await session.scalar(select(func.count()).select_from(Airport)),
                await session.scalar(select(func.count()).select_from(Flight)),
                await session.scalar(select(func.count()).select_from(Cabin)))


async def test_seed_creates_a_month_of_flights_quickly(seeded, empty_sessions):
    created, elapsed = seeded
    assert created == 30 * len(TIMETABLE) >= 600
    assert await counts(empty_sessions) == (len(AIRPORTS), created, 2 * created)
    assert elapsed < 5, f"seeding took {elapsed:.2f} s"


async def test_seed_is_idempotent(seeded, empty_sessions):
    before = await counts(empty_sessions)
    async with empty_sessions() as session:
        assert await seed_demo(session, days=30, start=START) == 0
        assert await seed_demo(session, days=5) == 0
        await session.commit()
    assert await counts(empty_sessions) == before


async def test_airports_have_real_zones(seeded, empty_sessions):
    from zoneinfo import ZoneInfo

    async with empty_sessions() as session:
        airports = {a.code: a for a in (await session.scalars(select(Airport))).all()}
    wanted = {"RUH", "JED", "DMM", "MED", "DXB", "DOH", "CAI", "KWI", "AMM", "IST", "LHR", "NRT"}
    assert wanted <= set(airports)
    for airport in airports.values():
        ZoneInfo(airport.timezone)
    assert airports["LHR"].timezone == "Europe/London" and airports["NRT"].timezone == "Asia/Tokyo"


async def test_departures_are_local_times_converted_to_utc(seeded, empty_sessions):
    from zoneinfo import ZoneInfo

    async with empty_sessions() as session:
        flights = (await session.scalars(select(Flight).where(Flight.flight_number == "SV120")
                                         .order_by(Flight.departure_at))).all()
    assert len(flights) == 30
    london = [f.departure_at.astimezone(ZoneInfo("Europe/London")) for f in flights]
    # 21:30 in London every day, whether London is on GMT or BST…
    assert {(t.hour, t.minute) for t in london} == {(21, 30)}
    assert [t.date() for t in london] == [date.fromordinal(START.toordinal() + i) for i in range(30)]
    # …so the UTC time moves by an hour across the change.
    assert {f.departure_at.hour for f in flights} == {20, 21}
    assert all(isinstance(f.departure_at, datetime) and f.departure_at.utcoffset().total_seconds() == 0
               for f in flights)


async def test_fares_in_three_currency_exponents(seeded, empty_sessions):
    async with empty_sessions() as session:
        rows = (await session.execute(select(Cabin.capacity, Cabin.seats_available))).all()
        currencies = set((await session.scalars(select(Cabin.currency).distinct())).all())
        kwd = (await session.execute(
            select(Cabin.fare_minor).join(Flight, Flight.id == Cabin.flight_id)
            .where(Flight.flight_number == "SV501", Cabin.cabin_class == CabinClass.ECONOMY).limit(1)
        )).scalar_one()
        jpy = (await session.execute(
            select(Cabin.fare_minor).join(Flight, Flight.id == Cabin.flight_id)
            .where(Flight.flight_number == "SV881", Cabin.cabin_class == CabinClass.ECONOMY).limit(1)
        )).scalar_one()
    assert {"SAR", "KWD", "JPY"} <= currencies
    assert (kwd, jpy) == (45500, 98000)  # "45.500" KWD, "98000" JPY
    assert all(row.seats_available == row.capacity > 0 for row in rows)
