"""Every job AIS runs: its task function, queue, retries and, for periodic ones, its schedule
(SPEC §8). Both engines read this one table: procrastinate on PostgreSQL (`procrastinate_app.py`)
and the in-process executor in embedded mode (`embedded.py`), so the same task functions run
the same way whichever database is behind.

A task function takes the process's runtime and the job's arguments, opens its own unit of work
for each transaction, and returns how many things it changed (for the log). It raises to be
retried; after `retries` retries the job stays `failed` with its error (and `on_exhausted` runs).
Periodic schedules are cron lines; a sixth field is seconds (`* * * * * */30`: every 30 s)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ais.bookings.tasks import complete_departed_flights, expire_stale_holds
from ais.jobs.cleanup import cleanup_expired_records
from ais.notifications import sender
from ais.notifications.service import SEND_EMAIL
from ais.payments.tasks import (
    SUBMIT_REFUND,
    expire_lapsed_checkouts,
    retry_pending_refunds,
    retry_unprocessed_events,
    submit_refund,
)
from ais.reconciliation.tasks import daily_reconciliation
from ais.runtime import Runtime

TaskFunction = Callable[..., Awaitable[int]]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    run: TaskFunction
    queue: str = "default"
    retries: int = 0  # retries after the first attempt, with exponential backoff
    backoff: int = 0  # the n-th retry waits backoff ** (n) seconds (procrastinate's `exponential_wait`)
    cron: str | None = None  # periodic: fired once per tick across every worker
    on_exhausted: Callable[..., Awaitable[None]] | None = None

    def retry_delay(self, attempts: int) -> float:
        """Seconds before the retry that follows `attempts` failed attempts."""
        return float(self.backoff ** attempts) if self.backoff else 0.0


async def _outbox_sweep(runtime: Runtime) -> int:
    return await sender.defer_unsent(runtime)


async def _send_email(runtime: Runtime, *, message_id: str) -> int:
    return await sender.send_message(runtime, message_id)


async def _email_given_up(runtime: Runtime, *, message_id: str, **_: Any) -> None:
    await sender.give_up(runtime, message_id)


async def _submit_refund(runtime: Runtime, *, refund_id: str) -> int:
    return await submit_refund(runtime, refund_id)


TASKS: tuple[TaskSpec, ...] = (
    # Deferred after the commit that queued the message; retried 8 times over about 6 hours.
    TaskSpec(SEND_EMAIL, _send_email, queue="emails", retries=8, backoff=3, on_exhausted=_email_given_up),
    # Deferred after a refund is recorded (and by the sweep below) while the provider has not accepted it.
    TaskSpec(SUBMIT_REFUND, _submit_refund, queue="payments", retries=10, backoff=3),
    TaskSpec("sweep_outbox", _outbox_sweep, cron="* * * * * */30"),
    TaskSpec("expire_stale_holds", expire_stale_holds, cron="* * * * *"),
    TaskSpec("expire_lapsed_checkouts", expire_lapsed_checkouts, cron="* * * * *"),
    TaskSpec("retry_unprocessed_events", retry_unprocessed_events, cron="* * * * * */30"),
    TaskSpec("retry_pending_refunds", retry_pending_refunds, cron="* * * * *"),
    TaskSpec("complete_departed_flights", complete_departed_flights, cron="*/5 * * * *"),
    TaskSpec("cleanup_expired_records", cleanup_expired_records, cron="7 * * * *"),
    TaskSpec("daily_reconciliation", daily_reconciliation, cron="0 2 * * *"),
)
BY_NAME = {spec.name: spec for spec in TASKS}
PERIODIC = tuple(spec for spec in TASKS if spec.cron)
