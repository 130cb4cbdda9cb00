"""What a running process holds: settings, the engine, the cache and rate limiter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import ais.db.models  # noqa: F401 - every model, so that any query this process runs can resolve its foreign keys
from ais.cache.store import KeyValueStore, create_store
from ais.config import Settings
from ais.db.engine import create_engine, create_session_factory
from ais.flights.airports import AirportDirectory
from ais.identity.access_check import AccessStateCache
from ais.maintenance.service import MaintenanceCache

if TYPE_CHECKING:
    from ais.payments.gateway import PaymentGateway


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    store: KeyValueStore
    airports: AirportDirectory = field(default_factory=AirportDirectory)
    background: list[object] = field(default_factory=list)
    # Per process (per app): which access tokens are still honoured, read at most 5 s ago.
    access_states: AccessStateCache = field(default_factory=AccessStateCache)
    # Per process (per app): maintenance mode, read at most 1 s ago.
    maintenance: MaintenanceCache = field(default_factory=MaintenanceCache)
    _gateway: PaymentGateway | None = None

    @property
    def payment_gateway(self) -> PaymentGateway:
        """The Stripe gateway, created on first use (its HTTP client belongs to this event loop)."""
        if self._gateway is None:
            from ais.payments.stripe_gateway import StripeGateway

            self._gateway = StripeGateway(self.settings)
        return self._gateway

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=create_session_factory(engine),
            store=create_store(settings.redis_url),
        )

    async def close(self) -> None:
        if self._gateway is not None:
            await self._gateway.close()
            self._gateway = None
        await self.store.close()
        await self.engine.dispose()
