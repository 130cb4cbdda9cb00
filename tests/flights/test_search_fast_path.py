"""GET /flights/search is answered before the framework (ais.flights.search_fast_path): with the
route's own answer (cached or not), inside every middleware, and never for a request the route
would judge differently."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import update

from ais.flights.models import Cabin
from ais.http.dependencies import airports_of
from tests.flights.support import add_flight, future_day, local, search_params
from tests.ops.contract import assert_error

pytestmark = pytest.mark.usefixtures("airports")
SEARCH = "/api/v1/flights/search"


@contextmanager
def route_cannot_run(app: FastAPI) -> Iterator[None]:
    """While inside, the search route fails (500) if it runs at all: it gets no airport directory."""

    async def no_airports() -> None:
        raise RuntimeError("the search route ran")

    app.dependency_overrides[airports_of] = no_airports
    try:
        yield
    finally:
        del app.dependency_overrides[airports_of]


def served(status: str) -> float:
    return REGISTRY.get_sample_value("ais_http_request_duration_seconds_count",
                                     {"method": "GET", "route": SEARCH, "status": status}) or 0.0


async def cached_search(client, runtime, days: int) -> dict[str, str]:
    day = future_day(days)
    await add_flight(runtime, departure=local(day, "09:30", "RUH"))
    params = search_params("RUH", "JED", day)
    assert (await client.get(SEARCH, params=params)).headers["X-Cache"] == "MISS"
    return params


async def test_a_hit_is_the_routes_answer_without_the_route(app, client, runtime):
    params = await cached_search(client, runtime, 41)
    # The POST search goes through the route (the fast path is GET only) and hits the same entry.
    through_route = await client.post(SEARCH, json=params)
    before = served("200")
    with route_cannot_run(app):
        hit = await client.get(SEARCH, params=params)
    assert hit.status_code == 200, hit.text
    assert (hit.headers["X-Cache"], through_route.headers["X-Cache"]) == ("HIT", "HIT")
    assert hit.content == through_route.content and hit.json()["flights"]
    # Every middleware applied: the same headers as the route's answer, a correlation id of its own.
    assert sorted(hit.headers.keys()) == sorted(through_route.headers.keys())
    for name in ("content-type", "content-length", "x-content-type-options", "cache-control"):
        assert hit.headers.get(name) == through_route.headers.get(name), name
    assert hit.headers["X-Correlation-Id"] != through_route.headers["X-Correlation-Id"]
    assert served("200") == before + 1  # counted under the route's template, as the route would be


async def test_a_miss_is_answered_without_the_route_with_one_lookup(app, client, runtime):
    day = future_day(42)
    await add_flight(runtime, departure=local(day, "10:30", "RUH"))
    params = search_params("RUH", "JED", day)
    misses = REGISTRY.get_sample_value("ais_cache_lookups_total", {"outcome": "miss"}) or 0.0
    before = served("200")
    with route_cannot_run(app):
        first = await client.get(SEARCH, params=params)
    assert first.status_code == 200 and first.headers["X-Cache"] == "MISS", first.text
    assert REGISTRY.get_sample_value("ais_cache_lookups_total", {"outcome": "miss"}) == misses + 1
    assert served("200") == before + 1
    through_route = await client.post(SEARCH, json=params)  # the route, now answering from the cache
    assert through_route.headers["X-Cache"] == "HIT" and through_route.content == first.content
    assert first.json()["flights"]


@pytest.mark.parametrize("extra", [
    "&note=%00",  # a NUL in any parameter is refused by every route
    "&passengers=0",  # invalid
])
async def test_requests_the_route_refuses_are_refused(client, runtime, extra):
    params = await cached_search(client, runtime, 43)
    query = "&".join(f"{name}={value}" for name, value in params.items()) + extra
    assert_error(await client.get(f"{SEARCH}?{query}"), 422, "VALIDATION_ERROR")


async def test_a_parameter_given_twice_is_left_to_the_route(app, client, runtime):
    params = await cached_search(client, runtime, 43)
    query = "&".join(f"{name}={value}" for name, value in params.items())
    with route_cannot_run(app):
        assert (await client.get(f"{SEARCH}?{query}&from=RUH")).status_code == 500


async def test_cache_control_reads_the_database_past_a_cached_answer(app, client, runtime):
    """`no-cache` and `no-store` answer from the database even when the cache holds the search;
    `no-cache` then refreshes the entry, `no-store` leaves it as it was. Without the route."""
    day = future_day(44)
    flight = await add_flight(runtime, departure=local(day, "08:30", "RUH"))
    params = search_params("RUH", "JED", day)
    seats = (await client.get(SEARCH, params=params)).json()["flights"][0]["availableSeats"]
    async with runtime.session_factory() as session:  # behind the cache's back: no invalidation
        await session.execute(update(Cabin).where(Cabin.flight_id == uuid.UUID(flight.id)).values(
            seats_available=Cabin.seats_available - 1))
        await session.commit()

    def seats_in(answer) -> int:  # type: ignore[no-untyped-def]
        assert answer.status_code == 200, answer.text
        return int(answer.json()["flights"][0]["availableSeats"])

    with route_cannot_run(app):
        assert seats_in(await client.get(SEARCH, params=params)) == seats  # the cached answer
        no_store = await client.get(SEARCH, params=params, headers={"Cache-Control": "no-store"})
        assert seats_in(no_store) == seats - 1 and no_store.headers["X-Cache"] == "BYPASS"
        assert seats_in(await client.get(SEARCH, params=params)) == seats  # not stored
        no_cache = await client.get(SEARCH, params=params, headers={"Cache-Control": "no-cache"})
        assert seats_in(no_cache) == seats - 1 and no_cache.headers["X-Cache"] == "BYPASS"
        refreshed = await client.get(SEARCH, params=params)
        assert seats_in(refreshed) == seats - 1 and refreshed.headers["X-Cache"] == "HIT"


async def test_cache_control_given_twice_is_left_to_the_route(app, client, runtime):
    params = await cached_search(client, runtime, 44)
    with route_cannot_run(app):
        answer = await client.get(SEARCH, params=params,
                                  headers=[("Cache-Control", "no-cache"), ("Cache-Control", "max-age=0")])
    assert answer.status_code == 500


async def test_a_hit_for_a_query_written_differently(app, client, runtime):
    day = future_day(45)
    await add_flight(runtime, departure=local(day, "11:30", "RUH"))
    await client.get(SEARCH, params=search_params("RUH", "JED", day))
    # Lower-case codes, defaults spelt out, parameters reordered, a cache buster: the same search.
    with route_cannot_run(app):
        answer = await client.get(f"{SEARCH}?cabin=economy&to=jed&date={day.isoformat()}&from=ruh&passengers=1&_=9")
    assert answer.status_code == 200 and answer.headers["X-Cache"] == "HIT"
