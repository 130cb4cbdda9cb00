"""Fixed-window rate limits on login and refresh, counted in the shared store."""

from __future__ import annotations

import hashlib
import time

from fastapi import Request

from ais.cache.store import StoreUnavailable
from ais.errors import RateLimited


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def enforce(request: Request, bucket: str, subject: str, *, limit: int, window_seconds: int = 60) -> None:
    """Raise RateLimited once `subject` has made `limit` calls to `bucket` in the current window.
    When the store is down the limit is not enforced: refusing every login would be worse."""
    store = request.app.state.runtime.store
    window = int(time.time() // window_seconds)
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]  # no e-mails or IPs in Redis keys
    key = f"ais:rl:{bucket}:{digest}:{window}"
    try:
        count = await store.incr(key, ttl_seconds=window_seconds)
    except StoreUnavailable:
        return
    if count > limit:
        retry_after = window_seconds - int(time.time() % window_seconds)
        raise RateLimited(max(retry_after, 1))
