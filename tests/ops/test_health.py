"""SPEC §7/§10: liveness, readiness with per-part latency, and 503 in the contract shape when a
required part is down."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from ais.app import create_app
from ais.config import Settings
from ais.db.base import utcnow
from ais.jobs.queue import ProcrastinateQueue
from ais.jobs.worker import start_in_process_worker
from ais.wiring import create_runtime
from tests.fixtures.backend import BACKEND
from tests.ops.contract import assert_error

CLOSED_PORT = 1  # nothing listens on tcp/1 on a test machine


@asynccontextmanager
async def app_client(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=changes))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            yield http
    finally:
        await app.state.runtime.close()


def reachable_redis_url() -> str | None:
    url = os.environ.get("AIS_TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"
    host_port = url.split("//", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = host_port.partition(":")
    try:
        socket.create_connection((host, int(port or 6379)), timeout=0.5).close()
    except OSError:
        return None
    return url


async def test_live_answers_200(client):
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["X-Correlation-Id"]


@asynccontextmanager
async def a_worker(settings: Settings) -> AsyncIterator[None]:
    """A job worker on the suite's database, as `ais worker` runs one (its own runtime)."""
    runtime = create_runtime(settings.model_copy(update={"db_pool_size": 2, "db_max_overflow": 1}))
    stop = start_in_process_worker(runtime, concurrency=1)
    try:
        yield
    finally:
        await stop()
        await runtime.close()


async def test_ready_reports_each_part_with_its_latency(client, runtime, settings):
    async with a_worker(settings):
        for _ in range(100):  # until the worker has registered its first heartbeat
            response = await client.get("/health/ready")
            if response.json()["checks"]["queue"]["status"] == "ok":
                break
            await asyncio.sleep(0.1)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "queue"}
    for name, check in body["checks"].items():
        assert check["status"] == "ok", (name, check)
        assert isinstance(check["latencyMs"], int | float) and check["latencyMs"] >= 0, (name, check)
    assert body["checks"]["redis"]["configured"] is (runtime.store.kind == "redis")
    queue = body["checks"]["queue"]
    assert queue["engine"] == ("embedded" if BACKEND == "sqlite" else "procrastinate")
    assert queue["oldestDueSeconds"] < 300


@pytest.mark.postgres_only
async def test_ready_says_degraded_while_jobs_wait_and_no_worker_beats(settings, scratch_database):
    """Jobs late is not a reason to take the API out of the pool: 200 `degraded`, saying why."""
    async with app_client(settings, database_url=scratch_database()) as http:  # no worker ever ran there
        jobs = http._transport.app.state.runtime.jobs  # type: ignore[attr-defined]
        assert isinstance(jobs, ProcrastinateQueue)
        app = await jobs.open()
        ready = await http.get("/health/ready")
        assert ready.json()["status"] == "ok", ready.text  # no worker, but nothing waits either
        # A due job that has waited two minutes.
        await app.configure_task("sweep_outbox", schedule_at=utcnow() - timedelta(minutes=2)).defer_async()
        response = await http.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded" and body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["queue"]["status"] == "degraded"
    assert "jobs wait and no worker has beaten in 60 s" in body["checks"]["queue"]["detail"]
    assert body["checks"]["queue"]["oldestDueSeconds"] >= 110


async def test_ready_is_503_in_the_contract_shape_when_the_database_is_down(settings):
    async with app_client(settings, database_url=f"postgresql://root@127.0.0.1:{CLOSED_PORT}/x") as http:
        response = await http.get("/health/ready")
        live = await http.get("/health/live")

    body = assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert body["retryable"] is True
    assert response.headers["Retry-After"]
    assert "database" in body["message"]
    assert body["details"]["status"] == "down"
    database = body["details"]["checks"]["database"]
    assert database["status"] == "down" and database["latencyMs"] >= 0
    assert "root@" not in response.text and str(CLOSED_PORT) + "/x" not in response.text
    # The process itself is alive: only readiness says "do not route traffic here".
    assert live.status_code == 200


async def test_ready_is_200_degraded_when_the_configured_redis_is_down(settings):
    """Search still answers without Redis: the load balancer must keep the node."""
    async with app_client(settings, redis_url=f"redis://127.0.0.1:{CLOSED_PORT}/0") as http:
        response = await http.get("/health/ready")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"]["status"] == "down" and body["checks"]["redis"]["configured"] is True
    assert body["checks"]["database"]["status"] == "ok"


async def test_ready_with_a_working_redis_reports_it(settings):
    url = reachable_redis_url()
    if url is None:
        pytest.skip("no Redis reachable (set AIS_TEST_REDIS_URL)")
    async with app_client(settings, redis_url=url) as http:
        response = await http.get("/health/ready")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["checks"]["redis"]["status"] == "ok" and body["checks"]["redis"]["configured"] is True
    # `ok`, unless the queue says jobs are late (on PostgreSQL with no worker running here)
    assert body["status"] == ("ok" if body["checks"]["queue"]["status"] == "ok" else "degraded")


async def test_login_still_works_when_redis_is_down(settings):
    """Rate limits count in process rather than refusing every login (rate_limit.enforce)."""
    from tests.factories import new_user

    async with app_client(settings, redis_url=f"redis://127.0.0.1:{CLOSED_PORT}/0") as http:
        user = await new_user(http)
        me = await http.get("/api/v1/me", headers=user.headers)
    assert me.status_code == 200
