"""The connection pool serves waiting requests first come, first served (ais.db.fair_pool): a
returned connection goes to the longest waiter, never to a request that arrived after it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty

from ais.db.fair_pool import FairAsyncQueue, FairAsyncQueuePool


async def serve_in_arrival_order(queue: AsyncAdaptedQueue) -> list[tuple[str, str]]:
    """Three requests wait for a connection; a fourth arrives (its task is ready to run, ahead of
    the first waiter's wake-up, as a request just read from a socket is); a connection is
    returned; then three more."""
    served: list[tuple[str, str]] = []

    async def request(name: str) -> None:
        served.append((name, await greenlet_spawn(queue.get, True, 5)))

    waiting = []
    for index in range(3):
        waiting.append(asyncio.create_task(request(f"waiter {index}")))
        await asyncio.sleep(0.01)  # each is waiting before the next arrives
    newcomer = asyncio.create_task(request("newcomer"))  # scheduled, not run yet
    queue.put_nowait("connection 1")
    await asyncio.sleep(0.01)
    for number in (2, 3, 4):
        queue.put_nowait(f"connection {number}")
    await asyncio.gather(*waiting, newcomer)
    return served


async def test_a_returned_connection_goes_to_the_longest_waiter():
    assert await serve_in_arrival_order(FairAsyncQueue()) == [
        ("waiter 0", "connection 1"), ("waiter 1", "connection 2"), ("waiter 2", "connection 3"),
        ("newcomer", "connection 4"),
    ]


async def test_sqlalchemys_own_queue_lets_the_newcomer_jump_the_line():
    # Why the fair queue exists: with the stock one the newcomer takes the first connection
    # and the first waiter waits again, at the back. (If this fails, SQLAlchemy became fair.)
    served = await serve_in_arrival_order(AsyncAdaptedQueue())
    assert served[0] == ("newcomer", "connection 1")


async def test_a_waiter_that_timed_out_is_skipped_and_nothing_is_lost():
    queue = FairAsyncQueue()
    with pytest.raises(Empty):
        await greenlet_spawn(queue.get, True, 0.05)
    queue.put_nowait("connection 1")  # nobody waits any more: it stays in the pool
    assert queue.qsize() == 1
    assert await greenlet_spawn(queue.get, True, 1) == "connection 1"


async def test_a_cancelled_waiter_is_skipped():
    queue = FairAsyncQueue()
    gone = asyncio.create_task(greenlet_spawn(queue.get, True, 5))
    await asyncio.sleep(0.01)
    still_there = asyncio.create_task(greenlet_spawn(queue.get, True, 5))
    await asyncio.sleep(0.01)
    gone.cancel()
    await asyncio.sleep(0.01)
    queue.put_nowait("connection 1")
    assert await still_there == "connection 1"
    assert queue.qsize() == 0


async def test_the_application_uses_it(runtime):
    assert isinstance(runtime.engine.pool, FairAsyncQueuePool)
    assert isinstance(runtime.autocommit_session_factory.kw["bind"].pool, FairAsyncQueuePool)
