"""Search cache invalidation is after-commit work registered where the change is made
(`invalidate_after_commit`): one INCR of the version per commit however many changes registered
it, none before the commit (a search then would cache the old state under the new version),
none when the transaction rolls back."""

from __future__ import annotations

import pytest

from ais.cache.search_cache import VERSION_KEY, invalidate_after_commit, invalidate_search_cache
from ais.db.unit_of_work import UnitOfWork
from ais.runtime import Runtime
from tests.factories import new_flight, new_user


async def _version(runtime: Runtime) -> int:
    raw = await runtime.store.get(VERSION_KEY)
    assert raw is not None
    return int(raw)


async def test_one_invalidation_per_commit_and_only_after_it(runtime: Runtime) -> None:
    await invalidate_search_cache(runtime.store)  # the version key exists from here on
    before = await _version(runtime)
    async with UnitOfWork(runtime) as uow:
        for _ in range(3):  # e.g. three cabins sold out by one change
            invalidate_after_commit(uow.session)
        assert await _version(runtime) == before
    assert await _version(runtime) == before + 1


async def test_a_rolled_back_change_leaves_the_cache_alone(runtime: Runtime) -> None:
    await invalidate_search_cache(runtime.store)
    before = await _version(runtime)
    with pytest.raises(LookupError):
        async with UnitOfWork(runtime) as uow:
            invalidate_after_commit(uow.session)
            raise LookupError("refused")
    assert await _version(runtime) == before


async def test_a_flight_change_invalidates_once_after_its_commit(client, runtime: Runtime) -> None:
    admin = await new_user(client, runtime, admin=True)
    flight = await new_flight(runtime, economy_seats=5)
    await invalidate_search_cache(runtime.store)
    before = await _version(runtime)
    response = await client.patch(f"/api/v1/admin/flights/{flight.id}", headers=admin.headers,
                                  json={"cabins": [{"cabin": "economy", "capacity": 7}]})
    assert response.status_code == 200, response.text
    assert await _version(runtime) == before + 1
