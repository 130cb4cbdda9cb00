"""Test fixtures: a fresh database per run (PostgreSQL or SQLite, chosen by AIS_TEST_DB),
built by the real Alembic migrations, and the real app behind an in-process HTTP client.

Tests never share rows: each creates its own users and flights through `tests.factories`.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from ais.app import create_app
from ais.config import Settings
from ais.db import migrate
from ais.runtime import Runtime

BACKEND = os.environ.get("AIS_TEST_DB", "postgres")
ADMIN_DSN = os.environ.get("AIS_TEST_PG_ADMIN_DSN", "postgresql://root@127.0.0.1:5432/test")

# Shared fixtures: private services a test may break, extra databases.
pytest_plugins = ["tests.fixtures.services", "tests.fixtures.databases"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND == "postgres":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL row locks; runs in the PostgreSQL pass")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    return f"AIS test database: {BACKEND}"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    if BACKEND == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ais-test-") as directory:
            yield f"sqlite:///{directory}/ais.db"
        return
    name = f"ais_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_DSN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("ais-data")
    base = Settings(
        _env_file=None,  # type: ignore[call-arg]
        ais_env="development",
        ais_data_dir=data_dir,
        database_url=database_url,
        redis_url=os.environ.get("AIS_TEST_REDIS_URL") or None,
        run_jobs_in_process=False,
        sandbox_webhook_delivery="off",
        public_base_url="http://test",
        login_rate_limit=1000,
        login_rate_limit_per_ip=100000,
        register_rate_limit_per_ip=100000,
        # Many tests book freely with one user; the limits themselves are tested with the SPEC
        # defaults (`spec_limits_client` below).
        max_held_seats=100000,
        booking_rate_per_minute=100000,
        db_pool_size=10,
        db_max_overflow=5,
        log_level="WARNING",
    ).with_embedded_secrets()
    migrate.upgrade(base)
    return base


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
def runtime(app: FastAPI) -> Runtime:
    return app.state.runtime  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
async def client(app: FastAPI, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as http:
        yield http
    await runtime.close()


SPEC_LIMITS = {name: Settings.model_fields[name].default for name in ("max_held_seats", "booking_rate_per_minute")}


@pytest.fixture(scope="session")
async def spec_limits_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the SPEC's default booking limits (the shared settings above raise them so
    that other tests may book freely with one user)."""
    limited = create_app(settings.model_copy(update=SPEC_LIMITS))
    transport = httpx.ASGITransport(app=limited, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as http:
        yield http
    await limited.state.runtime.close()


@pytest.fixture
async def session(runtime: Runtime) -> AsyncIterator[object]:
    async with runtime.session_factory() as db_session:
        yield db_session
