"""Refunds that fail at the provider are retried with backoff like any job (SPEC §8): a refund
recorded while Stripe is unreachable stays `pending`; the sweep gives it a `submit_refund` job;
each failed attempt is recorded with its error; once the provider answers again, the job's next
attempt has it accepted, with the refund's own idempotency key (one refund at the provider)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from sqlalchemy import select

from ais.jobs.models import JobFailure
from ais.jobs.worker import start_in_process_worker
from ais.payments.gateway import ProviderUnavailable
from ais.payments.models import Refund, RefundStatus
from ais.payments.stripe_gateway import StripeGateway
from ais.payments.tasks import retry_pending_refunds
from tests.factories import new_flight
from tests.fixtures.payment_flow import paid_booking
from tests.payments.support import (
    cancel,
    passenger_user,
    payment_intent_of,
    refunds_at_provider,
    session_id_of,
)


async def test_a_refund_the_provider_refused_is_retried_by_its_job_until_accepted(
        http, live, sdk, runtime, live_runtime, monkeypatch):
    user = await passenger_user(http)
    flight = await new_flight(runtime, economy_seats=3)
    booking = await paid_booking(http, live, sdk, runtime, user, flight)
    intent = await payment_intent_of(sdk, await session_id_of(sdk, booking["id"]))
    calls = {"refused": 0}

    async def provider_down(self: StripeGateway, **kwargs: Any) -> Any:
        calls["refused"] += 1
        raise ProviderUnavailable("APIConnectionError: connection refused (injected)")

    monkeypatch.setattr(StripeGateway, "create_refund", provider_down)
    assert (await cancel(http, user, booking["id"])).status_code == 200
    async with live_runtime.session_factory() as session:
        [refund] = (await session.scalars(select(Refund).where(Refund.booking_id == uuid.UUID(booking["id"])))).all()
    assert refund.status == RefundStatus.PENDING

    stop = start_in_process_worker(live_runtime, concurrency=2)
    try:
        assert await retry_pending_refunds(live_runtime) >= 1  # the sweep: one job for the refund

        async def failures() -> list[JobFailure]:
            async with live_runtime.session_factory() as session:
                return list((await session.scalars(select(JobFailure).where(
                    JobFailure.task == "submit_refund", JobFailure.error.contains(str(refund.id))))).all())

        deadline = time.monotonic() + 20
        while not await failures():
            assert time.monotonic() < deadline, "the refund's job never ran"
            await asyncio.sleep(0.2)
        [failure] = await failures()
        assert failure.attempt == 1 and not failure.final and "RefundNotAccepted" in failure.error
        assert await retry_pending_refunds(live_runtime) >= 1  # again: its job waits already (one per refund)

        monkeypatch.undo()  # the provider answers again: the retry (3 s later) has it accepted

        async def status() -> RefundStatus:
            async with live_runtime.session_factory() as session:
                current = await session.get(Refund, refund.id, populate_existing=True)
                assert current is not None
                return current.status

        deadline = time.monotonic() + 30
        while await status() == RefundStatus.PENDING:
            assert time.monotonic() < deadline, "the refund's retry never reached the provider"
            await asyncio.sleep(0.2)
    finally:
        await stop()
    assert await status() == RefundStatus.REQUESTED
    assert len(await failures()) == 1  # one failed attempt, then accepted
    assert len(await refunds_at_provider(sdk, intent["id"])) == 1
