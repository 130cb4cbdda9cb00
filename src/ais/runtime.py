"""What a running process holds: settings, the engine and session factory, the cache store, and
the payment gateway. It sits below every domain: it imports none of them. The composition root
(`ais.wiring.create_runtime`, used by the app and the `ais` command) hands it the gateway factory
and loads every model."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ais.cache.store import KeyValueStore, create_store
from ais.config import Settings
from ais.db.engine import create_autocommit_session_factory, create_engine, create_session_factory

if TYPE_CHECKING:
    # Annotation only (never imported at run time): the port the payments domain declares, which
    # the runtime hands out without knowing who implements it. Allowed in tests/test_architecture.py.
    from ais.payments.gateway import PaymentGateway

GatewayFactory = Callable[[Settings], "PaymentGateway"]


class JobQueue(Protocol):
    """The port a domain defers a job through (`runtime.jobs`): procrastinate on PostgreSQL, the
    in-process executor's table on SQLite (`ais.jobs.queue`, chosen by the composition root)."""

    async def defer(self, task: str, *, queueing_lock: str | None = None, **kwargs: Any) -> None:
        """Queue `task(**kwargs)`; with `queueing_lock`, not while a job with that lock waits or runs."""

    async def prune(self, older_than: timedelta) -> None:
        """Forget jobs that finished longer than `older_than` ago."""

    async def close(self) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    store: KeyValueStore
    gateway_factory: GatewayFactory | None = None
    background: list[object] = field(default_factory=list)
    jobs: JobQueue | None = None
    _gateway: PaymentGateway | None = None

    @functools.cached_property
    def autocommit_session_factory(self) -> async_sessionmaker[AsyncSession]:
        """Sessions in autocommit (`ais.db.engine.create_autocommit_session_factory`)."""
        return create_autocommit_session_factory(self.engine)

    @property
    def payment_gateway(self) -> PaymentGateway:
        """The payment gateway, created on first use (its HTTP client belongs to this event loop)."""
        if self._gateway is None:
            if self.gateway_factory is None:
                raise RuntimeError("This runtime has no payment gateway: build it with ais.wiring.create_runtime.")
            self._gateway = self.gateway_factory(self.settings)
        return self._gateway

    @classmethod
    def create(cls, settings: Settings, *, gateway_factory: GatewayFactory | None = None) -> Runtime:
        engine = create_engine(settings)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=create_session_factory(engine),
            store=create_store(settings.redis_url),
            gateway_factory=gateway_factory,
        )

    async def defer(self, task: str, *, queueing_lock: str | None = None, **kwargs: Any) -> None:
        """Defer a job (see `JobQueue.defer`); a runtime built without a queue refuses."""
        if self.jobs is None:
            raise RuntimeError("This runtime has no job queue: build it with ais.wiring.create_runtime.")
        await self.jobs.defer(task, queueing_lock=queueing_lock, **kwargs)

    async def close(self) -> None:
        if self.jobs is not None:
            await self.jobs.close()
        if self._gateway is not None:
            await self._gateway.close()
            self._gateway = None
        await self.store.close()
        await self.engine.dispose()
