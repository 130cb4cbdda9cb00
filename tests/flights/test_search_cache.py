"""SPEC §9 search cache: versioned keys, invalidation by INCR, degrade when the store is down."""

from __future__ import annotations

import os
import uuid

import pytest
from prometheus_client import REGISTRY

from ais.cache import search_cache
from ais.cache.search_cache import VERSION_KEY, CacheMode, invalidate_search_cache, lookup, remember, search_key
from ais.cache.store import MemoryStore, RedisStore
from tests.flights.support import add_flight, future_day, local, search_params

pytestmark = pytest.mark.usefixtures("airports")


def lookups(outcome: str) -> float:
    return REGISTRY.get_sample_value("ais_cache_lookups_total", {"outcome": outcome}) or 0.0


async def test_repeat_search_is_a_cache_hit(client, runtime):
    day = future_day(33)
    await add_flight(runtime, departure=local(day, "08:00", "RUH"))
    params = search_params("RUH", "JED", day, passengers=2)
    hits, misses = lookups("hit"), lookups("miss")

    first = await client.get("/api/v1/flights/search", params=params)
    second = await client.get("/api/v1/flights/search", params=params)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert second.content == first.content
    assert (lookups("miss"), lookups("hit")) == (misses + 1, hits + 1)
    # The same search as a POST body shares the entry.
    post = await client.post("/api/v1/flights/search", json=params)
    assert post.headers["X-Cache"] == "HIT"


async def test_cache_serves_until_invalidated(client, runtime):
    day = future_day(34)
    params = search_params("RUH", "JED", day)
    await client.get("/api/v1/flights/search", params=params)
    # A writer that forgets to invalidate leaves the cached answer in place…
    flight = await add_flight(runtime, departure=local(day, "13:00", "RUH"))
    await remember_stale(runtime, params)
    stale = await client.get("/api/v1/flights/search", params=params)
    assert flight.id not in [f["id"] for f in stale.json()["flights"]]
    # …`Cache-Control: no-cache` answers from the database (and refreshes the entry)…
    fresh = await client.get("/api/v1/flights/search", params=params, headers={"Cache-Control": "no-cache"})
    assert fresh.headers["X-Cache"] == "BYPASS"
    assert flight.id in [f["id"] for f in fresh.json()["flights"]]
    assert (await client.get("/api/v1/flights/search", params=params)).content == fresh.content
    # …and one INCR of the version makes every entry unreachable.
    await remember_stale(runtime, params)
    await invalidate_search_cache(runtime.store)
    after = await client.get("/api/v1/flights/search", params=params)
    assert after.headers["X-Cache"] == "MISS"
    assert flight.id in [f["id"] for f in after.json()["flights"]]


async def remember_stale(runtime, params):
    """Overwrite the current entry with an empty answer, as if cached before the flight existed."""
    from ais.flights.schemas import SearchCriteria

    identity = SearchCriteria.model_validate(params).cache_identity()
    found = await lookup(runtime.store, identity, CacheMode.REFRESH)
    await remember(runtime.store, found.key, b'{"flights":[]}')


async def test_no_store_neither_reads_nor_writes(client, runtime):
    day = future_day(35)
    params = search_params("RUH", "JED", day)
    await remember_stale(runtime, params)
    response = await client.get("/api/v1/flights/search", params=params, headers={"Cache-Control": "no-store"})
    assert response.headers["X-Cache"] == "BYPASS"
    assert (await client.get("/api/v1/flights/search", params=params)).content == b'{"flights":[]}'


async def test_search_answers_from_the_database_when_redis_is_down(client, runtime, monkeypatch):
    day = future_day(36)
    flight = await add_flight(runtime, departure=local(day, "14:00", "RUH"))
    down = RedisStore("redis://127.0.0.1:1/0")  # nothing listens on port 1
    monkeypatch.setattr(runtime, "store", down)
    try:
        for _ in range(3):
            response = await client.get("/api/v1/flights/search", params=search_params("RUH", "JED", day))
            assert response.status_code == 200, response.text
            assert response.headers["X-Cache"] == "UNAVAILABLE"
            assert flight.id in [f["id"] for f in response.json()["flights"]]
        await invalidate_search_cache(down)  # logged, never raised: the change is already committed
    finally:
        await down.close()


async def test_version_lives_in_the_store_and_keys_follow_the_contract():
    store = MemoryStore()
    first = await lookup(store, "RUH|JED|2026-12-01|2|economy")
    version = (await store.get(VERSION_KEY)).decode()
    assert int(version) > 10**18  # seeded from the clock, never a small number old keys may share
    assert first.outcome == "miss"
    assert first.key == search_key(version, "RUH|JED|2026-12-01|2|economy")
    assert first.key.startswith(f"ais:search:{version}:") and len(first.key.rsplit(":", 1)[1]) == 32

    await remember(store, first.key, b"{}")
    assert (await lookup(store, "RUH|JED|2026-12-01|2|economy")).payload == b"{}"
    assert (await lookup(store, "RUH|JED|2026-12-01|3|economy")).outcome == "miss"

    await invalidate_search_cache(store)
    assert (await store.get(VERSION_KEY)).decode() == str(int(version) + 1)
    again = await lookup(store, "RUH|JED|2026-12-01|2|economy")
    assert again.outcome == "miss" and again.key != first.key


async def test_a_lost_version_restarts_from_the_clock():
    store = MemoryStore()
    await invalidate_search_cache(store)  # INCR of a missing key would give 1
    assert int(await store.get(VERSION_KEY)) > 10**18


@pytest.mark.parametrize(
    ("header", "mode"),
    [(None, CacheMode.USE), ("", CacheMode.USE), ("max-age=0", CacheMode.USE), ("no-cache", CacheMode.REFRESH),
     ("No-Cache, max-age=0", CacheMode.REFRESH), ("no-store", CacheMode.OFF), ("no-cache, no-store", CacheMode.OFF)],
)
def test_cache_control_header(header, mode):
    assert CacheMode.from_header(header) is mode


@pytest.mark.skipif(not os.environ.get("AIS_TEST_REDIS_URL"), reason="set AIS_TEST_REDIS_URL for a real Redis")
async def test_real_redis_versioning():
    from redis.asyncio import Redis

    url = os.environ["AIS_TEST_REDIS_URL"]
    async with Redis.from_url(url) as raw:  # start from a missing version key, as on a fresh Redis
        await raw.delete(VERSION_KEY)
    store = RedisStore(url)
    try:
        identity = f"test|{uuid.uuid4()}"
        found = await lookup(store, identity)
        await remember(store, found.key, b"{}")
        assert (await lookup(store, identity)).payload == b"{}"
        await invalidate_search_cache(store)
        assert (await lookup(store, identity)).outcome == "miss"
        assert int(await store.get(VERSION_KEY)) > 10**18
    finally:
        await store.close()


def test_entries_expire_within_the_spec_limit():
    assert 0 < search_cache.ENTRY_TTL_SECONDS <= 120


async def _chained_reads(store) -> None:  # type: ignore[no-untyped-def]
    name = f"test:{uuid.uuid4()}"
    assert await store.get_chained(f"{name}:pointer", f"{name}:", ":entry") == (None, None)
    await store.set(f"{name}:pointer", b"7", 60)
    assert await store.get_chained(f"{name}:pointer", f"{name}:", ":entry") == (b"7", None)
    await store.set(f"{name}:7:entry", b"payload", 60)
    assert await store.get_chained(f"{name}:pointer", f"{name}:", ":entry") == (b"7", b"payload")


async def test_a_chained_get_reads_a_key_then_the_key_its_value_names():
    await _chained_reads(MemoryStore())


@pytest.mark.skipif(not os.environ.get("AIS_TEST_REDIS_URL"), reason="set AIS_TEST_REDIS_URL for a real Redis")
async def test_a_chained_get_on_redis_is_one_script_with_the_same_answers():
    store = RedisStore(os.environ["AIS_TEST_REDIS_URL"])
    try:
        await _chained_reads(store)
    finally:
        await store.close()
