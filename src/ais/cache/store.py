"""A small key-value store: Redis when `REDIS_URL` is set, process memory otherwise.

Used for the search cache (versioned keys, TTL) and fixed-window rate limits. Redis being
down never fails a request that can be answered without it: callers treat `StoreUnavailable`
as a miss and the outage is logged once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import structlog

_log = structlog.get_logger("ais.cache")


class StoreUnavailable(Exception):
    pass


class KeyValueStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def get_chained(self, key: str, prefix: str, suffix: str) -> tuple[bytes | None, bytes | None]: ...
    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None: ...
    async def incr(self, key: str, ttl_seconds: int | None = None) -> int: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...
    @property
    def kind(self) -> str: ...


class MemoryStore:
    """Process-local store for embedded mode; expiry checked on read."""

    kind = "memory"

    def __init__(self, max_items: int = 50_000) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._max_items = max_items
        self._lock = asyncio.Lock()

    def _live(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires < time.monotonic():
            del self._data[key]
            return None
        return value

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def get_chained(self, key: str, prefix: str, suffix: str) -> tuple[bytes | None, bytes | None]:
        """The value of `key` and, when there is one, the value of `prefix + that value + suffix`."""
        first = self._live(key)
        return first, None if first is None else self._live(prefix + first.decode() + suffix)

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        if len(self._data) >= self._max_items:
            self._evict()
        self._data[key] = (value, time.monotonic() + ttl_seconds)

    async def incr(self, key: str, ttl_seconds: int | None = None) -> int:
        async with self._lock:
            current = self._live(key)
            value = int(current or b"0") + 1
            expires = self._data[key][1] if current is not None and key in self._data else None
            if expires is None and ttl_seconds is not None:
                expires = time.monotonic() + ttl_seconds
            self._data[key] = (str(value).encode(), expires)
            return value

    def _evict(self) -> None:
        now = time.monotonic()
        for key in [k for k, (_, exp) in self._data.items() if exp is not None and exp < now]:
            del self._data[key]
        while len(self._data) >= self._max_items:
            self._data.pop(next(iter(self._data)))

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()


# One round trip for two dependent reads (a versioned key: the version, then the entry under
# it). The second key is built in the script, so this store is for a single Redis, not a cluster.
_CHAINED_GET = """
local first = redis.call('GET', KEYS[1])
if not first then return {false, false} end
return {first, redis.call('GET', ARGV[1] .. first .. ARGV[2])}
"""


class RedisStore:
    kind = "redis"

    def __init__(self, url: str) -> None:
        from redis.asyncio import BlockingConnectionPool, Redis

        # A blocking pool waits for a free connection instead of raising under load.
        self._pool = BlockingConnectionPool.from_url(
            url, max_connections=50, timeout=2, socket_timeout=1, socket_connect_timeout=1
        )
        self._redis = Redis(connection_pool=self._pool)
        self._chained_get = self._redis.register_script(_CHAINED_GET)  # EVALSHA, loaded on first use
        self._down_logged = False

    async def _call(self, coro):  # type: ignore[no-untyped-def]
        from redis.exceptions import RedisError

        try:
            result = await coro
        except (RedisError, OSError, TimeoutError) as exc:
            if not self._down_logged:
                self._down_logged = True
                _log.warning("redis_unavailable", error=type(exc).__name__)
            raise StoreUnavailable(str(exc)) from exc
        if self._down_logged:
            self._down_logged = False
            _log.info("redis_recovered")
        return result

    async def get(self, key: str) -> bytes | None:
        value = await self._call(self._redis.get(key))
        return value if value is None else bytes(value)

    async def get_chained(self, key: str, prefix: str, suffix: str) -> tuple[bytes | None, bytes | None]:
        """The value of `key` and, when there is one, the value of `prefix + that value + suffix`:
        one round trip (a Lua script), both read at the same instant."""
        first, second = await self._call(self._chained_get(keys=[key], args=[prefix, suffix]))
        return (None if first is None else bytes(first)), (None if second is None else bytes(second))

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        await self._call(self._redis.set(key, value, ex=ttl_seconds))

    async def incr(self, key: str, ttl_seconds: int | None = None) -> int:
        async def run() -> int:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                if ttl_seconds is not None:
                    pipe.expire(key, ttl_seconds, nx=True)
                results = await pipe.execute()
            return int(results[0])

        return int(await self._call(run()))

    async def ping(self) -> None:
        await self._call(self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()
        await self._pool.aclose()


def create_store(redis_url: str | None) -> KeyValueStore:
    return RedisStore(redis_url) if redis_url else MemoryStore()
