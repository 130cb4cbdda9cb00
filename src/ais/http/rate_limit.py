"""Fixed-window rate limits (login, refresh, registration, …), counted in the shared store.

When Redis is down the counting moves to this process's memory instead of stopping: each process
then enforces the limit on its own (a client spread over N processes gets up to N times the limit),
which still stops a guessing run, where switching limits off would hand it the outage.
"""

from __future__ import annotations

import hashlib
import time

import structlog
from fastapi import FastAPI, Request

from ais.cache.store import KeyValueStore, MemoryStore, StoreUnavailable
from ais.errors import RateLimited
from ais.http.dependencies import runtime_of

_log = structlog.get_logger("ais.rate_limit")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _fallback_store(app: FastAPI) -> KeyValueStore:
    """The in-process counters of this app, made on the first outage."""
    store: KeyValueStore | None = getattr(app.state, "rate_limit_fallback", None)
    if store is None:
        store = MemoryStore(max_items=100_000)
        app.state.rate_limit_fallback = store
        _log.warning("rate_limits_in_process", reason="store unavailable")
    return store


async def enforce(request: Request, bucket: str, subject: str, *, limit: int, window_seconds: int = 60) -> None:
    """Raise RateLimited once `subject` has made `limit` calls to `bucket` in the current window."""
    window = int(time.time() // window_seconds)
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]  # no e-mails or IPs in Redis keys
    key = f"ais:rl:{bucket}:{digest}:{window}"
    try:
        count = await runtime_of(request).store.incr(key, ttl_seconds=window_seconds)
    except StoreUnavailable:
        count = await _fallback_store(request.app).incr(key, ttl_seconds=window_seconds)
    if count > limit:
        retry_after = window_seconds - int(time.time() % window_seconds)
        raise RateLimited(max(retry_after, 1))
