"""Liveness, readiness and the metrics endpoint.

Readiness answers what a load balancer needs to decide whether to route traffic here:
`{status: ok|degraded|down, checks: {database, redis, queue}}`, each check with its status and
latency. Only the database can take the node out (503): unreachable, or its schema not at the
code's migration head (every query would fail). Redis down is `degraded` with 200: search answers
from the database and rate limits count in process, so the node still serves. So is a queue
without a beating worker, or whose oldest due job waits over 5 minutes (jobs late, API fine).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ais.cache.store import StoreUnavailable
from ais.db.migrate import code_heads, live_revisions
from ais.errors import Unauthorized
from ais.http.dependencies import runtime_of
from ais.http.errors import error_body, responses
from ais.jobs.monitoring import queue_check
from ais.ops.metrics import render
from ais.runtime import Runtime

router = APIRouter(tags=["operations"])

DATABASE_TIMEOUT = 3.0  # a probe must answer well within the load balancer's own timeout
REDIS_TIMEOUT = 1.0


class SchemaNotAtHead(Exception):
    pass


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def _timed(check: Callable[[], Awaitable[dict[str, Any] | None]], seconds: float) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {"status": "ok"}
    try:
        details = await asyncio.wait_for(check(), seconds)
        result.update(details or {})
    except TimeoutError:
        result = {"status": "down", "error": f"no answer within {seconds:g} s"}
    except SchemaNotAtHead as exc:
        result = {"status": "down", "error": str(exc)}
    except Exception as exc:
        # The exception's type only: its text may hold a host, a user name or SQL.
        result = {"status": "down", "error": type(exc).__name__}
    return {**result, "latencyMs": round((time.perf_counter() - started) * 1000, 2)}


def _database_check(runtime: Runtime) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        found = await live_revisions(runtime.engine)
        expected = code_heads()
        if not found:
            raise SchemaNotAtHead("the database has no schema: run `ais db upgrade`")
        if found != expected:
            raise SchemaNotAtHead(
                f"the schema is at {', '.join(sorted(found))}, the code needs {', '.join(sorted(expected))}: "
                "run `ais db upgrade`"
            )

    return check


def _redis_check(runtime: Runtime) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def check() -> dict[str, Any]:
        if runtime.store.kind != "redis":
            return {"detail": "REDIS_URL unset: cache and rate limits in process"}
        try:
            await runtime.store.ping()
        except StoreUnavailable as exc:
            raise ConnectionError(str(exc)) from exc
        return {}

    return check


def _queue_check(runtime: Runtime) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def check() -> dict[str, Any]:
        details = await queue_check(runtime)
        if details["status"] != "ok":
            raise QueueDegraded(details)
        return details

    return check


class QueueDegraded(Exception):
    def __init__(self, details: dict[str, Any]) -> None:
        super().__init__(details.get("detail", "degraded"))
        self.details = details


async def _queue(runtime: Runtime) -> dict[str, Any]:
    """The job queue: `degraded` (never `down`: the API still serves) when no worker beats or the
    oldest due job waits too long, or when the queue cannot be read."""
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(_queue_check(runtime)(), DATABASE_TIMEOUT)
    except QueueDegraded as exc:
        result = exc.details
    except TimeoutError:
        result = {"status": "degraded", "error": f"no answer within {DATABASE_TIMEOUT:g} s"}
    except Exception as exc:
        result = {"status": "degraded", "error": type(exc).__name__}
    return {**result, "latencyMs": round((time.perf_counter() - started) * 1000, 2)}


@router.get("/health/ready", responses={503: responses("SERVICE_UNAVAILABLE")[503]})
async def ready(request: Request) -> Response:
    runtime = runtime_of(request)
    database, redis, queue = await asyncio.gather(
        _timed(_database_check(runtime), DATABASE_TIMEOUT), _timed(_redis_check(runtime), REDIS_TIMEOUT),
        _queue(runtime),
    )
    redis["configured"] = runtime.store.kind == "redis"
    checks = {"database": database, "redis": redis, "queue": queue}
    if database["status"] != "ok":
        body = error_body(
            "SERVICE_UNAVAILABLE",
            f"Not ready: database down ({database.get('error', 'unknown')}).",
            retryable=True,
            details={"status": "down", "checks": checks},
        )
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
    status = "ok" if all(check["status"] == "ok" for check in checks.values()) else "degraded"
    return JSONResponse({"status": status, "checks": checks})


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    token = runtime_of(request).settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise Unauthorized("GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`.")
    payload, content_type = render()
    return Response(payload, media_type=content_type)
