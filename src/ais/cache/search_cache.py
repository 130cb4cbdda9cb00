"""The flight search cache (SPEC §9): versioned keys `ais:search:{version}:{hash}`, 60 s TTL.

Invalidation is one INCR of `ais:search:version`: every key built from the old version becomes
unreachable at once and simply expires. It is race-free as long as a search reads the version
*before* it queries the database: a search that raced a change stores its (possibly old) answer
under the old version, which nobody reads after the INCR.

The store is an optimisation, never a dependency: when it is down a search answers from the
database, and the cache is skipped for a few seconds so that each search does not wait for a
connect timeout (the store itself logs the outage once).
"""

from __future__ import annotations

import enum
import hashlib
import time
import weakref
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ais.cache.store import KeyValueStore, StoreUnavailable
from ais.db.unit_of_work import after_commit
from ais.ops.metrics import CACHE_LOOKUPS
from ais.runtime import Runtime

_log = structlog.get_logger("ais.cache")

PREFIX = "ais:search"
VERSION_KEY = f"{PREFIX}:version"
ENTRY_TTL_SECONDS = 60
# The version key lives long but not forever, so a store that never restarts still sheds it;
# it is re-created from the clock, never reset to a small number that old keys might share.
VERSION_TTL_SECONDS = 30 * 24 * 3600
RETRY_STORE_AFTER_SECONDS = 5.0
# Part of every key: a release that changes the payload shape never reads the old shape.
PAYLOAD_FORMAT = "search-v1"

_skip_until: weakref.WeakKeyDictionary[KeyValueStore, float] = weakref.WeakKeyDictionary()


class CacheMode(enum.Enum):
    USE = "use"  # read, and store on a miss
    REFRESH = "refresh"  # `Cache-Control: no-cache`: skip the read, store the fresh answer
    OFF = "off"  # `Cache-Control: no-store`: neither read nor store

    @classmethod
    def from_header(cls, cache_control: str | None) -> CacheMode:
        directives = {part.strip().split("=", 1)[0].lower() for part in (cache_control or "").split(",")}
        if "no-store" in directives:
            return cls.OFF
        if "no-cache" in directives:
            return cls.REFRESH
        return cls.USE


@dataclass(frozen=True, slots=True)
class Lookup:
    outcome: str  # hit | miss | bypass | unavailable
    key: str | None = None  # where to store a fresh answer; None when it must not be stored
    payload: bytes | None = None


def _digest(identity: str) -> str:
    return hashlib.sha256(f"{PAYLOAD_FORMAT}|{identity}".encode()).hexdigest()[:32]


def search_key(version: str, identity: str) -> str:
    return f"{PREFIX}:{version}:{_digest(identity)}"


async def lookup(store: KeyValueStore, identity: str, mode: CacheMode = CacheMode.USE) -> Lookup:
    """Find a cached answer for the search `identity`. Never raises for store trouble."""
    result = await _lookup(store, identity, mode)
    CACHE_LOOKUPS.labels(outcome=result.outcome).inc()
    return result


async def _lookup(store: KeyValueStore, identity: str, mode: CacheMode) -> Lookup:
    if mode is CacheMode.OFF:
        return Lookup("bypass")
    if _skip_until.get(store, 0.0) > time.monotonic():
        return Lookup("unavailable")
    try:
        if mode is CacheMode.REFRESH:
            return Lookup("bypass", search_key(await _current_version(store), identity))
        # The version and the entry under it in one round trip (the version still read first).
        digest = _digest(identity)
        version, payload = await store.get_chained(VERSION_KEY, f"{PREFIX}:", f":{digest}")
        key = f"{PREFIX}:{version.decode() if version is not None else await _seed_version(store)}:{digest}"
    except StoreUnavailable:
        _skip_until[store] = time.monotonic() + RETRY_STORE_AFTER_SECONDS
        return Lookup("unavailable")
    return Lookup("hit", key, payload) if payload is not None else Lookup("miss", key)


async def remember(store: KeyValueStore, key: str, payload: bytes) -> None:
    """Store a fresh answer under the key `lookup` gave (built from the version read before
    the query). Never raises for store trouble."""
    try:
        await store.set(key, payload, ENTRY_TTL_SECONDS)
    except StoreUnavailable:
        _skip_until[store] = time.monotonic() + RETRY_STORE_AFTER_SECONDS


async def invalidate_search_cache(store: KeyValueStore) -> None:
    """Make every cached search unreachable (one INCR). Changes register it to run after their
    commit with `invalidate_after_commit`.

    Never raises: the change is already committed, and when the store is down there is no
    cache to serve stale answers from; entries written before an outage expire within 60 s."""
    try:
        if await store.incr(VERSION_KEY) == 1:
            # The key was missing (first use, or evicted): INCR made it 1, a number an earlier
            # run of versions may have used for entries still alive. Jump past all of them.
            await _seed_version(store)
    except StoreUnavailable:
        _log.warning("search_cache_invalidation_failed")


async def _current_version(store: KeyValueStore) -> str:
    raw = await store.get(VERSION_KEY)
    return raw.decode() if raw is not None else await _seed_version(store)


async def _seed_version(store: KeyValueStore) -> str:
    """Start the version from the clock (ns): larger than any value a previous version key
    reached by INCR, so no entry written under an old version is ever read again."""
    version = str(time.time_ns())
    await store.set(VERSION_KEY, version.encode(), VERSION_TTL_SECONDS)
    return version


def invalidate_after_commit(session: AsyncSession) -> None:
    """Called inside a transaction that changes what search shows (a flight's times, status, fares
    or capacity; a cabin that sold out or has seats again): once that transaction commits, the
    cache is invalidated, once per commit however many changes registered it. A rollback leaves
    the cache alone."""
    after_commit(session, _invalidate_hook, key=VERSION_KEY)


async def _invalidate_hook(runtime: Runtime) -> None:
    await invalidate_search_cache(runtime.store)
