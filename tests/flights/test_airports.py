"""SPEC §7: `GET /api/v1/airports` for the app's pickers, and search refuses an airport code
that is not one of them (422 naming the field) instead of answering an empty list."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from ais.db.upsert import insert_if_absent
from ais.flights.airports import AirportDirectory
from ais.flights.models import Airport
from tests.factories import TEST_AIRPORTS
from tests.flights.support import EXTRA_AIRPORTS, add_flight, future_day, local, search_params
from tests.ops.contract import assert_error

pytestmark = pytest.mark.usefixtures("airports")


async def insert_airport(session, code: str, zone: str = "Europe/Paris") -> None:
    await insert_if_absent(session, Airport.__table__, {
        "code": code, "name": f"Test airport {code}", "city": "Testville", "country": "FR", "timezone": zone,
    }, ["code"])
    await session.commit()


async def add_airport(runtime, code: str, zone: str = "Europe/Paris") -> None:
    async with runtime.session_factory() as session:
        await insert_airport(session, code, zone)


async def test_every_airport_is_listed_with_its_time_zone_without_a_token(client, app):
    # The list may be a minute old; a process started after these airports were added lists them all.
    app.state.airports = AirportDirectory()
    response = await client.get("/api/v1/airports")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items"}  # all of them at once: no cursor
    items = body["items"]
    assert all(set(item) == {"code", "name", "city", "country", "timeZone"} for item in items)
    codes = [item["code"] for item in items]
    assert codes == sorted(set(codes))
    by_code = {item["code"]: item for item in items}
    for airport in [*TEST_AIRPORTS, *EXTRA_AIRPORTS]:
        assert by_code[airport["code"]] == {
            "code": airport["code"], "name": airport["name"], "city": airport["city"],
            "country": airport["country"], "timeZone": airport["timezone"],
        }
    assert "max-age" in response.headers["Cache-Control"]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_an_unknown_airport_in_search_is_a_validation_error_naming_the_field(client, method):
    location = "query" if method == "GET" else "body"

    async def search(origin, destination):
        criteria = search_params(origin, destination, future_day(3))
        if method == "GET":
            return await client.get("/api/v1/flights/search", params=criteria)
        return await client.post("/api/v1/flights/search", json=criteria)

    error = assert_error(await search("ZZZ", "JED"), 422, "VALIDATION_ERROR")
    assert [e["field"] for e in error["details"]["errors"]] == [f"{location}.from"]
    assert "ZZZ" in error["details"]["errors"][0]["message"]
    error = assert_error(await search("RUH", "zzy"), 422, "VALIDATION_ERROR")
    assert [e["field"] for e in error["details"]["errors"]] == [f"{location}.to"]
    error = assert_error(await search("ZZZ", "ZZY"), 422, "VALIDATION_ERROR")
    assert [e["field"] for e in error["details"]["errors"]] == [f"{location}.from", f"{location}.to"]
    # Not an answer the cache keeps: asked again, still refused.
    assert_error(await search("ZZZ", "JED"), 422, "VALIDATION_ERROR")


async def test_an_airport_added_after_the_list_was_read_is_searchable_at_once(client, runtime):
    await client.get("/api/v1/airports")  # the directory is loaded now
    await add_airport(runtime, "XQZ")
    day = future_day(12)
    flight = await add_flight(runtime, origin="XQZ", destination="RUH", departure=local(day, "10:00", "RUH"))
    response = await client.get("/api/v1/flights/search", params=search_params("XQZ", "RUH", day))
    assert response.status_code == 200, response.text
    assert flight.id in [f["id"] for f in response.json()["flights"]]


async def test_a_cached_search_of_known_airports_runs_no_query(client, runtime):
    day = future_day(13)
    await add_flight(runtime, departure=local(day, "09:00", "RUH"))
    params = search_params("RUH", "JED", day)
    first = await client.get("/api/v1/flights/search", params=params)
    assert first.status_code == 200

    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
    try:
        again = await client.get("/api/v1/flights/search", params=params)
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", count)
    assert again.status_code == 200
    if again.headers["X-Cache"] == "HIT":  # the PostgreSQL pass, with Redis
        assert statements == []
    else:  # no cache store (SQLite pass): only the search itself, not an airport lookup
        assert not [s for s in statements if "airports" in s.lower()], statements


async def test_the_directory_is_reread_every_minute(session):
    now = [1000.0]
    directory = AirportDirectory(clock=lambda: now[0])
    before = {airport.code for airport in await directory.all(session)}
    assert "XQY" not in before
    await insert_airport(session, "XQY", zone="America/Chicago")  # SQLite: one connection, this one

    now[0] += 30
    assert {a.code for a in await directory.all(session)} == before  # kept in memory
    now[0] += 31
    listed = {a.code: a for a in await directory.all(session)}
    assert listed["XQY"].timezone == "America/Chicago"
