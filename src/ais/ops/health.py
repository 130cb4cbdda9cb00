"""Liveness and readiness. Readiness checks each part with its latency; 503 when a required
part is down (the database always; Redis when configured, since production requires it)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from ais.cache.store import StoreUnavailable
from ais.openapi_errors import responses
from ais.ops.errors_http import error_body
from ais.ops.metrics import render

router = APIRouter(tags=["operations"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await check()
        status = "ok"
        error = None
    except Exception as exc:
        status = "down"
        error = type(exc).__name__
    result: dict[str, Any] = {"status": status, "latencyMs": round((time.perf_counter() - started) * 1000, 2)}
    if error:
        result["error"] = error
    return result


@router.get("/health/ready", responses={503: responses("SERVICE_UNAVAILABLE")[503]})
async def ready(request: Request) -> Response:
    runtime = request.app.state.runtime

    async def database() -> None:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def store() -> None:
        try:
            await runtime.store.ping()
        except StoreUnavailable as exc:
            raise ConnectionError(str(exc)) from exc

    checks = {"database": await _timed(database)}
    checks["cache"] = {**await _timed(store), "kind": runtime.store.kind}
    required = ["database"] + (["cache"] if runtime.store.kind == "redis" else [])
    down = [name for name in required if checks[name]["status"] != "ok"]
    if down:
        body = error_body(
            "SERVICE_UNAVAILABLE",
            "Not ready: " + ", ".join(down) + " down.",
            retryable=True,
            details={"checks": checks},
        )
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse({"status": "ok", "checks": checks})


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    payload, content_type = render()
    return Response(payload, media_type=content_type)
