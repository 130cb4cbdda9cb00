"""A running sandbox: its store, its delivery, and the background loop that plays Stripe's
side of time (expiring overdue sessions, retrying deliveries)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from ais.payments.sandbox import idempotency, sessions
from ais.payments.sandbox.config import SandboxConfig
from ais.payments.sandbox.delivery import Deliverer, seconds_until_due
from ais.payments.sandbox.errors import sandbox_unavailable
from ais.payments.sandbox.events import Context, flush_events
from ais.payments.sandbox.store import Store

_log = structlog.get_logger("ais.payments.sandbox")


class Sandbox:
    """Start it before serving (or let the first request start it) and close it on shutdown.

    `start()` and `close()` are idempotent; a sandbox mounted inside another app does not get
    its own lifespan, so the host's lifespan should call them.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = Store(config.store_url, schema=config.database_schema)
        self._deliverer = Deliverer(self.store, config)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()
        self._closed = False

    @property
    def started(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        async with self._start_lock:
            if self._task is not None:
                return
            self._closed = False
            await self.store.open()
            await self._deliverer.open()
            self._task = asyncio.create_task(self._run(), name="ais-payments-sandbox")
            _log.info("sandbox started", delivery=self.config.delivery,
                      webhook_url=self.config.effective_webhook_url,
                      database=self.store.shown)

    async def close(self) -> None:
        async with self._start_lock:
            self._closed = True
            task, self._task = self._task, None
            if task is not None:
                self._wake.set()  # the loop sees `_closed` even if the cancellation is lost
                task.cancel()
                # wait() neither raises the task's CancelledError nor swallows one aimed at us.
                await asyncio.wait([task])
                if not task.cancelled() and task.exception() is not None:
                    _log.error("sandbox background loop failed", exc_info=task.exception())
            await self._deliverer.close()
            await self.store.close()

    def wake(self) -> None:
        """New events were recorded: deliver them now rather than at the next poll."""
        self._wake.set()

    @asynccontextmanager
    async def unit_of_work(self, *, request_id: str | None = None,
                           idempotency_key: str | None = None) -> AsyncIterator[Context]:
        """One transaction with its context; wakes delivery after commit if events were recorded."""
        if self._task is None:
            if self._closed:  # a request that outlived the host's shutdown must not revive it
                raise sandbox_unavailable()
            await self.start()
        async with self.store.transaction() as conn:
            ctx = self._context(conn, request_id, idempotency_key)
            yield ctx
            await flush_events(ctx)
        if ctx.events_recorded:
            self.wake()

    async def run_once(self) -> None:
        """One pass of the background work: expire overdue sessions, forget expired idempotency
        keys, attempt due deliveries."""
        async with self.store.transaction() as conn:
            ctx = self._context(conn, None, None)
            await sessions.expire_overdue(ctx)
            await flush_events(ctx)
            await idempotency.forget_expired(conn, now=ctx.now)
        if self.config.delivery == "on":
            await self._deliverer.deliver_due()

    def _context(self, conn: AsyncConnection, request_id: str | None, idempotency_key: str | None) -> Context:
        return Context(conn=conn, config=self.config, now=self.config.now(), request_id=request_id,
                       idempotency_key=idempotency_key)

    async def _run(self) -> None:
        poll = self.config.delivery_policy.poll_interval
        while not self._closed:
            # Cleared before the work, so a wake() during it makes the wait below return at once.
            self._wake.clear()
            try:
                await self.run_once()
                timeout = await self._seconds_to_next(poll)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("sandbox background pass failed")
                timeout = poll
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns normally when the
            # event fires in the same moment as close() cancels us, and the stop is lost.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _seconds_to_next(self, poll: float) -> float:
        if self.config.delivery != "on":
            return poll
        async with self.store.transaction() as conn:
            due = await seconds_until_due(conn, now=time.time())
        return poll if due is None else min(poll, due)
