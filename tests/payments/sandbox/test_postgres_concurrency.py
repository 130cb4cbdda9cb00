"""The sandbox on PostgreSQL: calls run in parallel, and what must be atomic stays atomic.

The first test shows the race is real: refunds that read the charge without its row lock, run
concurrently, refund more than was captured. The rest attack the sandbox over HTTP, as AIS and
the passenger's browser do."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable

import httpx
import psycopg
import pytest
import stripe

from ais.payments.sandbox import repository
from ais.payments.sandbox.store import Store
from tests.payments.sandbox.support import RunningSandbox, paid_session, pay, session_params

pytestmark = pytest.mark.postgres_only


def same_store(running: RunningSandbox) -> Store:
    """A second connection pool on the running sandbox's store, in the test's event loop."""
    config = running.sandbox.config
    assert running.sandbox.store.is_postgres
    return Store(config.database_url, schema=config.database_schema, pool_size=10)


async def test_the_race_exists_without_the_row_lock(sandbox: RunningSandbox, client: stripe.StripeClient,
                                                    browser: httpx.AsyncClient) -> None:
    """Read the charge, check what remains, write it back, as a naive refund would: 10 refunds
    of 30.00 on a 100.00 charge all pass, because none of them sees the others."""
    session = await paid_session(client, browser, sandbox, amount=10000)
    charge_id = (await client.v1.payment_intents.retrieve_async(session.payment_intent)).latest_charge
    assert isinstance(charge_id, str)
    store = same_store(sandbox)
    await store.open()
    granted = 0

    async def naive_refund() -> None:
        nonlocal granted
        async with store.transaction() as conn:
            charge = await repository.get_object(conn, charge_id, "charge")  # no FOR UPDATE
            assert charge is not None
            await asyncio.sleep(0.01)  # the time a real request spends between the read and the write
            if charge.body["amount"] - charge.body["amount_refunded"] >= 3000:
                charge.body["amount_refunded"] += 3000
                await repository.update_object(conn, charge)
                granted += 1

    try:
        await asyncio.gather(*(naive_refund() for _ in range(10)))
    finally:
        await store.close()
    assert granted > 3  # more than 100.00 "refunded": the race the row lock prevents


async def test_parallel_refunds_of_one_charge_never_exceed_what_was_captured(
        sandbox: RunningSandbox, make_client: Callable[..., stripe.StripeClient],
        browser: httpx.AsyncClient) -> None:
    clients = [make_client(sandbox) for _ in range(4)]
    session = await paid_session(clients[0], browser, sandbox, amount=10000)

    async def refund(index: int) -> str:
        try:
            await clients[index % 4].v1.refunds.create_async(
                params={"payment_intent": session.payment_intent, "amount": 700})
        except stripe.InvalidRequestError as exc:
            return str(exc.code)
        return "refunded"

    outcomes = collections.Counter(await asyncio.gather(*(refund(index) for index in range(24))))

    assert outcomes == {"refunded": 14, "amount_too_large": 10}  # 14 x 7.00 = 98.00 of 100.00
    intent = await clients[0].v1.payment_intents.retrieve_async(session.payment_intent,
                                                                params={"expand": ["latest_charge"]})
    assert intent.latest_charge.amount_refunded == 9800
    refunds = await clients[0].v1.refunds.list_async(params={"payment_intent": session.payment_intent, "limit": 100})
    assert sum(refund.amount for refund in refunds.data) == 9800
    events = await clients[0].v1.events.list_async(params={"type": "charge.refunded", "limit": 100})
    assert sorted(event.data.object.amount_refunded for event in events.data) == list(range(700, 9801, 700))


async def test_parallel_completion_of_one_session_takes_one_payment(
        sandbox: RunningSandbox, client: stripe.StripeClient) -> None:
    session = await client.v1.checkout.sessions.create_async(params=session_params(amount=25000))

    async with httpx.AsyncClient(follow_redirects=False, timeout=30,
                                 limits=httpx.Limits(max_connections=20)) as browser:
        answers = await asyncio.gather(*(pay(browser, sandbox, session.id) for _ in range(12)))

    assert sorted(answer.status_code for answer in answers) == [303] + [409] * 11
    completed = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert (completed.status, completed.payment_status) == ("complete", "paid")
    types = collections.Counter(event.type for event in (await client.v1.events.list_async(
        params={"limit": 100})).data)
    assert types == {"charge.succeeded": 1, "payment_intent.succeeded": 1, "checkout.session.completed": 1}


async def test_unrelated_calls_do_not_wait_for_a_locked_object(
        sandbox: RunningSandbox, make_client: Callable[..., stripe.StripeClient],
        browser: httpx.AsyncClient) -> None:
    """No global lock: while one charge is locked, another charge is refunded and a session is
    created at once; the refund of the locked charge waits for the lock, then goes through."""
    client = make_client(sandbox)
    locked = await paid_session(client, browser, sandbox, amount=5000)
    other = await paid_session(client, browser, sandbox, amount=5000)
    locked_charge = (await client.v1.payment_intents.retrieve_async(locked.payment_intent)).latest_charge
    config = sandbox.sandbox.config
    assert config.database_url is not None

    with psycopg.connect(config.database_url) as holder:  # one open transaction, from outside the sandbox
        holder.execute(f'SELECT 1 FROM "{config.database_schema}".objects WHERE id = %s FOR UPDATE',
                       (locked_charge,))
        waiting = asyncio.create_task(client.v1.refunds.create_async(params={"charge": locked_charge}))
        try:
            async with asyncio.timeout(5):
                refund = await client.v1.refunds.create_async(params={"payment_intent": other.payment_intent})
                created = await client.v1.checkout.sessions.create_async(params=session_params())
            assert refund.amount == 5000 and created.status == "open"
            await asyncio.sleep(0.3)
            assert not waiting.done()  # behind the row lock
        except BaseException:
            waiting.cancel()
            with contextlib.suppress(BaseException):
                await waiting
            raise
        holder.commit()
    async with asyncio.timeout(10):
        assert (await waiting).amount == 5000
