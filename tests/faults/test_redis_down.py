"""Redis killed under a running AIS (SPEC §9, §10), and started again.

`ais serve` runs as its own process on a private redis-server. Killed: search still answers from
the database, `/health/ready` is 200 `degraded` (the load balancer keeps the node), rate limits
fall back to in-process counters (a login limit still trips). Started again on the same port:
the search cache works again (a hit, seen in `/metrics` and in Redis itself) without restarting
AIS. The in-process variants of the first checks are in tests/ops/test_readiness_faults.py;
this one is the real deployment shape, end to end, with the recovery."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import httpx
import pytest
import redis

from tests.factories import PASSWORD
from tests.faults.support import (
    assert_no_crash_output,
    flight_in,
    same_rate_limit_window,
    search_day,
    search_params,
)
from tests.fixtures.services import LiveServer, PrivateRedis

pytestmark = [pytest.mark.postgres_only, pytest.mark.faults]

LOGIN_LIMIT = 3
# The cache skips a Redis that failed for 5 s (search_cache.RETRY_STORE_AFTER_SECONDS) before it
# tries again; then one miss stores the answer and the next search hits.
RECOVERY_SECONDS = 15.0
HIT = re.compile(r'^ais_cache_lookups_total\{outcome="hit"\} ([0-9.e+]+)$', re.MULTILINE)


async def cache_hits(http: httpx.AsyncClient) -> float:
    metrics = await http.get("/metrics")
    assert metrics.status_code == 200, metrics.text
    found = HIT.search(metrics.text)
    return float(found.group(1)) if found else 0.0


def search_entries(server: PrivateRedis) -> list[bytes]:
    with redis.Redis.from_url(server.url(), socket_timeout=2) as client:
        return list(client.scan_iter(match="ais:search:*"))


async def search(http: httpx.AsyncClient) -> httpx.Response:
    started = time.monotonic()
    response = await http.get("/api/v1/flights/search", params=search_params(search_day()))
    assert time.monotonic() - started < 5, "search must not wait on a dead Redis"
    return response


@pytest.fixture
async def scene(scratch_database, private_redis, start_live_server):
    database_url = scratch_database(migrated=False)  # `ais serve` migrates it, as in production
    server: LiveServer = start_live_server(database_url=database_url, redis_url=private_redis.url(),
                                           login_rate_limit=LOGIN_LIMIT)
    flight = await flight_in(database_url)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http, server, private_redis, flight


async def test_redis_killed_then_back_search_readiness_and_rate_limits_survive_without_a_restart(scene):
    http, server, redis_server, flight = scene
    assert server.process is not None
    pid = server.process.pid

    # Healthy: the second identical search is a cache hit, stored in Redis.
    assert (await http.get("/health/ready")).json()["status"] == "ok"
    hits = await cache_hits(http)
    for _ in range(2):
        response = await search(http)
        assert response.status_code == 200 and flight.id in {f["id"] for f in response.json()["flights"]}
    assert await cache_hits(http) == hits + 1
    assert search_entries(redis_server)

    redis_server.kill()

    # Search answers from the database: a flight added during the outage shows up (no stale cache).
    added = await flight_in(server.env["DATABASE_URL"])
    for _ in range(3):
        response = await search(http)
        assert response.status_code == 200, response.text
        assert {flight.id, added.id} <= {f["id"] for f in response.json()["flights"]}
    ready = await http.get("/health/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "degraded" and body["checks"]["redis"]["status"] == "down", body
    assert body["checks"]["database"]["status"] == "ok", body

    # Rate limits count in process: the login limit still trips, with the contract's 429.
    email = f"redis-down-{uuid.uuid4().hex[:10]}@example.com"
    registered = await http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD,
                                                                "fullName": "Redis Down"})
    assert registered.status_code == 201, registered.text  # its rate limit counts in process too
    await same_rate_limit_window()
    statuses = []
    for _ in range(LOGIN_LIMIT + 1):
        wrong = await http.post("/api/v1/auth/login", json={"email": email, "password": "not the password!"})
        statuses.append(wrong.status_code)
    assert statuses == [401] * LOGIN_LIMIT + [429], statuses
    blocked = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert blocked.status_code == 429 and blocked.json()["code"] == "RATE_LIMITED", blocked.text
    assert int(blocked.headers["Retry-After"]) >= 1

    # Redis back on the same port, empty (no persistence): the cache works again by itself.
    redis_server.start()
    hits = await cache_hits(http)
    deadline = time.monotonic() + RECOVERY_SECONDS
    while await cache_hits(http) <= hits:
        assert time.monotonic() < deadline, "the search cache did not work again after Redis came back"
        assert (await search(http)).status_code == 200
        await asyncio.sleep(0.25)
    assert search_entries(redis_server), "no search answer was stored in the restarted Redis"
    assert (await http.get("/health/ready")).json()["status"] == "ok"

    assert server.process.poll() is None and server.process.pid == pid, "AIS must not have restarted"
    output = server.output()
    assert "redis_unavailable" in output and "redis_recovered" in output, output[-3000:]
    assert_no_crash_output(output)
