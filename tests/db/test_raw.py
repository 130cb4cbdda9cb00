"""`ais.db.raw`: a Core statement on the raw asyncpg connection gives the rows SQLAlchemy gives
(same values, same Python types), and fails as SQLAlchemy fails: a `DBAPIError` that the edge
judges transient, and a connection the failure closed never goes back to the pool."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

import pytest
from sqlalchemy import Table, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError

from ais.db import raw
from ais.db.base import utcnow
from ais.db.errors import is_transient_database_error, sqlstate
from ais.flights.models import Flight, FlightStatus
from tests.factories import new_flight

pytestmark = pytest.mark.postgres_only

_flights: Table = Flight.__table__  # type: ignore[assignment]
# Built once, as the product's statements are (the statement is the compiled form's cache key).
FLIGHT_BY_ID = (
    select(_flights.c.id, _flights.c.status, _flights.c.departure_at, _flights.c.flight_number)
    .where(_flights.c.id == bindparam("id"), _flights.c.departure_at >= bindparam("after"),
           _flights.c.status == FlightStatus.SCHEDULED)
)
SLEEP = select(func.pg_sleep(bindparam("seconds")))


async def test_rows_come_back_as_through_sqlalchemy(runtime):
    flight = await new_flight(runtime)
    params = {"id": uuid.UUID(flight.id), "after": utcnow() - timedelta(days=1)}
    async with runtime.engine.connect() as connection:
        through_sqlalchemy = [tuple(row) for row in (await connection.execute(FLIGHT_BY_ID, params)).all()]
        through_driver = await raw.fetch_all(connection, FLIGHT_BY_ID, params)
    assert through_driver == through_sqlalchemy and len(through_driver) == 1
    flight_id, status, departure_at, number = through_driver[0]
    assert type(flight_id) is type(through_sqlalchemy[0][0]) and status is FlightStatus.SCHEDULED
    assert departure_at.tzinfo is not None and departure_at.utcoffset() == UTC.utcoffset(None)
    assert number == flight.flight_number


async def test_a_statement_timeout_is_a_transient_database_error_and_the_connection_stays(runtime):
    async with runtime.engine.connect() as connection:
        with pytest.raises(DBAPIError) as raised:
            async with connection.begin():  # rolled back by the failure, the timeout with it
                await connection.execute(text("SET LOCAL statement_timeout = 50"))
                await raw.fetch_all(connection, SLEEP, {"seconds": 2})
        assert sqlstate(raised.value) == "57014" and is_transient_database_error(raised.value)
        assert not raised.value.connection_invalidated
        assert len(await raw.fetch_all(connection, SLEEP, {"seconds": 0})) == 1  # it answers again
        assert (await connection.execute(text("SHOW statement_timeout"))).scalar_one() != "50ms"


async def test_a_connection_killed_under_it_is_invalidated_not_pooled_again(runtime):
    async with runtime.engine.connect() as victim:
        pid = (await victim.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with runtime.engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError) as raised:
            await raw.fetch_all(victim, SLEEP, {"seconds": 0})
        assert raised.value.connection_invalidated and is_transient_database_error(raised.value)
    # Every pooled connection that is handed out now answers: the dead one was thrown away.
    for _ in range(runtime.settings.db_pool_size + 1):
        async with runtime.engine.connect() as connection:
            assert (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
