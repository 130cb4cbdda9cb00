"""PostgreSQL down under a running AIS (SPEC §10): every request that needs the database answers
503 SERVICE_UNAVAILABLE, retryable, within a few seconds; no 500, no hung request, no stack trace;
liveness stays 200. When the database is back, AIS recovers by itself, without a restart.

Each test runs `ais serve` as its own process on a private PostgreSQL cluster and breaks that
cluster: stopped (an operator's restart, a crash) or frozen (a hung host, a network partition)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from tests import factories
from tests.factories import book, new_user
from tests.faults.support import (
    assert_no_crash_output,
    assert_unavailable,
    database_probes,
    flight_in,
    search_day,
    search_params,
    timed,
)
from tests.fixtures.services import LiveServer, PrivatePostgres

pytestmark = [pytest.mark.postgres_only, pytest.mark.faults]

RECOVERY_SECONDS = 15.0


@dataclass
class Server:
    database_url: str
    process: LiveServer
    user: factories.TestUser
    flight: factories.TestFlight


@dataclass
class Scene:
    database_url: str
    cluster: PrivatePostgres
    server: LiveServer
    http: httpx.AsyncClient
    user: factories.TestUser
    flight: factories.TestFlight


@pytest.fixture
def server_settings() -> dict[str, object]:
    return {}


@pytest.fixture(scope="module")
def _servers() -> dict[tuple[tuple[str, object], ...], Server]:
    return {}


@pytest.fixture
async def scene(private_postgres, private_redis, start_module_live_server, server_settings, _servers
                ) -> AsyncIterator[Scene]:
    """`ais serve` on the private cluster, as deployed (with Redis, so search goes through its
    cache), with a passenger and a flight. One server per set of settings serves the module's
    tests (each leaves it recovered); the cluster is running when a test starts."""
    key = tuple(sorted(server_settings.items()))
    if key not in _servers:
        database_url = private_postgres.create_database()
        process = start_module_live_server(database_url=database_url, redis_url=private_redis.url(),
                                           **server_settings)  # `ais serve` migrates the database
        flight = await flight_in(database_url, economy_seats=500)
        async with httpx.AsyncClient(base_url=process.url, timeout=60) as http:
            _servers[key] = Server(database_url, process, await new_user(http), flight)
    server = _servers[key]
    async with httpx.AsyncClient(base_url=server.process.url, timeout=60) as http:
        current = Scene(server.database_url, private_postgres, server.process, http, server.user, server.flight)
        # The pool holds open connections when the outage begins (and no leftovers of the last test).
        await assert_recovers(current)
        yield current


async def assert_every_probe_unavailable(scene: Scene) -> None:
    for probe in database_probes(scene.user, scene.flight, scene.server.webhook_secret):
        response, elapsed = await timed(probe, scene.http)
        assert_unavailable(probe, response, elapsed)
    live = await scene.http.get("/health/live")
    assert live.status_code == 200, live.text


async def assert_recovers(scene: Scene) -> None:
    """Without restarting AIS: the first booking succeeds soon, and from then on every request does
    (no dead pooled connection is left to fail a later one)."""
    started = time.monotonic()
    while True:
        response = await book(scene.http, scene.user, scene.flight)
        if response.status_code == 201:
            break
        assert response.status_code == 503, response.text
        assert time.monotonic() - started < RECOVERY_SECONDS, "AIS did not recover from the outage"
        await asyncio.sleep(0.2)
    for _ in range(3):
        for probe in database_probes(scene.user, scene.flight, scene.server.webhook_secret):
            response = await probe.send(scene.http)
            assert response.status_code < 300, (probe.name, response.status_code, response.text)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_database_stopped_answers_503_then_recovers_without_a_restart(scene: Scene, mode: str):
    # Stopped while requests run: each is answered (success before, 503 after), none fails with a 500.
    in_flight = [book(scene.http, scene.user, scene.flight) for _ in range(10)]
    in_flight += [scene.http.get("/api/v1/bookings", headers=scene.user.headers) for _ in range(10)]
    stopper = threading.Timer(0.05, scene.cluster.stop, kwargs={"mode": mode})
    stopper.start()
    answers = await asyncio.gather(*in_flight)
    stopper.join()
    assert {r.status_code for r in answers} <= {200, 201, 503}, [(r.status_code, r.text) for r in answers]

    # Down: the pooled connections are dead, then new connections are refused.
    await assert_every_probe_unavailable(scene)
    await assert_every_probe_unavailable(scene)
    # A search answered before the outage is still served from the cache (Redis is up).
    cached = await scene.http.get("/api/v1/flights/search", params=search_params(search_day()))
    assert cached.status_code == 200, cached.text

    scene.cluster.start()
    await assert_recovers(scene)
    assert scene.server.process is not None and scene.server.process.poll() is None, "AIS must not have exited"
    assert_no_crash_output(scene.server.output())


# Small bounds keep the test short; the defaults (5 s connect, 15 s statement, 10 s pool wait)
# work the same way.
FROZEN_SETTINGS = {"db_connect_timeout_seconds": 2, "db_statement_timeout_seconds": 2,
                   "db_pool_timeout_seconds": 3}


@pytest.mark.parametrize("server_settings", [FROZEN_SETTINGS])
async def test_database_frozen_answers_503_within_its_timeouts_never_hangs(scene: Scene):
    """A database that accepts connections and never answers (SIGSTOP: a hung host, a partition):
    the client-side bounds on connect, statement and pool wait turn a would-be hang into a 503."""
    bound = (FROZEN_SETTINGS["db_statement_timeout_seconds"] + 2 + FROZEN_SETTINGS["db_pool_timeout_seconds"]
             + FROZEN_SETTINGS["db_connect_timeout_seconds"] + 1)
    scene.cluster.freeze()
    try:
        for _ in range(2):  # first the pooled connections hang, then new connects do
            probes = database_probes(scene.user, scene.flight, scene.server.webhook_secret)
            # All at once, as traffic arrives: more requests than the pool has connections.
            results = await asyncio.gather(*[timed(probe, scene.http) for probe in probes + probes])
            for probe, (response, elapsed) in zip(probes + probes, results, strict=True):
                assert elapsed < bound, f"{probe.name} took {elapsed:.1f} s"
                assert_unavailable(probe, response, 0)
            live = await scene.http.get("/health/live", timeout=2)
            assert live.status_code == 200
    finally:
        scene.cluster.thaw()
    await assert_recovers(scene)
    assert_no_crash_output(scene.server.output())


async def test_database_shutting_down_answers_503_not_500(scene: Scene):
    """While the database shuts down (or starts up) it refuses new connections with its own error
    ("the database system is shutting down"): that is "retry", like a refused connection.

    A smart shutdown waits for an open session (an operator's psql, a pg_dump), which holds the
    cluster in that state for as long as the test needs."""
    with psycopg.connect(scene.cluster.url(), autocommit=True) as held:
        # AIS's pooled connections end (as in any shutdown); its next connects meet the refusal.
        held.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ais'")
        scene.cluster.stop("smart", wait=False)
        await wait_until_refusing(scene.cluster)
        await assert_every_probe_unavailable(scene)
        await assert_every_probe_unavailable(scene)
    scene.cluster.wait_stopped()
    scene.cluster.start()
    await assert_recovers(scene)
    assert_no_crash_output(scene.server.output())


async def wait_until_refusing(cluster: PrivatePostgres) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            await (await psycopg.AsyncConnection.connect(cluster.url(), connect_timeout=2)).close()
        except psycopg.OperationalError as exc:
            assert "shutting down" in str(exc), exc
            return
        assert time.monotonic() < deadline, "the cluster never began to shut down"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("server_settings", [{"db_statement_timeout_seconds": 1}])
async def test_a_statement_past_the_statement_timeout_answers_503_not_500(scene: Scene):
    """A database too slow to answer within DB_STATEMENT_TIMEOUT_SECONDS (here every read of the
    flight waits behind a maintenance session's table lock, past the statement timeout and short
    of the lock timeout): the server cancels the statement, and that is "retry", not a crash."""
    with psycopg.connect(scene.database_url) as maintenance:
        maintenance.execute("LOCK TABLE flights, cabins IN ACCESS EXCLUSIVE MODE")
        for probe in database_probes(scene.user, scene.flight, scene.server.webhook_secret):
            if probe.name in ("flight detail", "search"):
                response, elapsed = await timed(probe, scene.http)
                assert_unavailable(probe, response, elapsed)
        maintenance.rollback()
    await assert_recovers(scene)
    assert "57014" in scene.server.output()  # query_canceled: the statement timeout, as logged
    assert_no_crash_output(scene.server.output())
