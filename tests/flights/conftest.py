"""Flight suites: the test airports, an admin and a passenger, a private empty database."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ais.config import Settings
from ais.db import migrate
from ais.db.engine import create_engine, create_session_factory
from ais.db.upsert import insert_if_absent
from ais.flights.models import Airport
from ais.runtime import Runtime
from tests.factories import TEST_AIRPORTS, new_user
from tests.fixtures.backend import ADMIN_DSN, BACKEND
from tests.flights.support import (
    EXTRA_AIRPORTS,
)


@pytest.fixture(scope="session")
async def airports(runtime: Runtime) -> None:
    async with runtime.session_factory() as session:
        for airport in [*TEST_AIRPORTS, *EXTRA_AIRPORTS]:
            await insert_if_absent(session, Airport.__table__, airport, ["code"])
        await session.commit()


@pytest.fixture(scope="session")
async def admin(client, runtime):
    return await new_user(client, runtime, admin=True)


@pytest.fixture(scope="session")
async def passenger(client, runtime):
    return await new_user(client, runtime)


# --- a private, empty database (the seed is a no-op once any flight exists) ---------------


@pytest.fixture(scope="session")
def empty_database_settings(settings: Settings) -> Iterator[Settings]:
    if BACKEND == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ais-seed-") as directory:
            private = settings.model_copy(update={"database_url": f"sqlite:///{directory}/seed.db"})
            migrate.upgrade(private)
            yield private
        return
    name = f"ais_seed_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        private = settings.model_copy(update={"database_url": f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}"})
        migrate.upgrade(private)
        yield private
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def empty_sessions(empty_database_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(empty_database_settings)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()
