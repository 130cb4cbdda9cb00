"""Maintenance mode switches the whole database: these tests run on a database of their own
(never the session's, which every other test books on), with two app instances on it, as two
API processes would be."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import psycopg
import pytest

from ais.app import create_app
from ais.config import Settings
from ais.db import migrate
from ais.wiring import create_runtime
from tests.factories import new_user
from tests.fixtures.backend import ADMIN_DSN, BACKEND
from tests.fixtures.payment_flow import Live
from tests.maintenance.support import Cluster, Node
from tests.payments.sandbox.serving import reserve_socket, serve


@pytest.fixture(scope="module")
def maintenance_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if BACKEND == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('maintenance') / 'ais.db'}"
    else:
        name = f"ais_test_maintenance_{secrets.token_hex(4)}"
        with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        url = f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    with ThreadPoolExecutor(1) as thread:  # Alembic runs an event loop of its own
        thread.submit(migrate.upgrade, Settings(_env_file=None, database_url=url)).result()  # type: ignore[call-arg]
    try:
        yield url
    finally:
        if BACKEND != "sqlite":
            with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
async def cluster(settings: Settings, maintenance_database: str) -> AsyncIterator[Cluster]:
    # No Redis: the search cache of the session's database must not answer for this one.
    node_settings = settings.model_copy(update={"database_url": maintenance_database, "redis_url": None,
                                                "db_pool_size": 3, "db_max_overflow": 2})
    with ExitStack() as servers:
        nodes = []
        for _ in range(2):
            sock, url = reserve_socket()
            own = node_settings.model_copy(update={"public_base_url": url})
            servers.enter_context(serve(create_app(own), sock))
            nodes.append(Node(url, httpx.AsyncClient(base_url=url, timeout=60), Live(url=url, settings=own)))
        runtime = create_runtime(node_settings)
        try:
            admin = await new_user(nodes[0].http, runtime, admin=True)
            passenger = await new_user(nodes[0].http)
            yield Cluster(nodes[0], nodes[1], runtime, admin, passenger)
        finally:
            for node in nodes:
                await node.http.aclose()
            await runtime.close()


@pytest.fixture
async def switch_off_afterwards(cluster: Cluster) -> AsyncIterator[None]:
    """Maintenance mode is off again after the test, whatever it asserted."""
    yield
    response = await cluster.first.http.put("/api/v1/admin/maintenance", json={"enabled": False},
                                            headers=cluster.admin.headers)
    assert response.status_code == 200, response.text
