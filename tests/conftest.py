"""Test fixtures: a fresh database per run (PostgreSQL or SQLite, chosen by AIS_TEST_DB),
built by the real Alembic migrations, and the real app behind an in-process HTTP client.

Tests never share rows: each creates its own users and flights through `tests.factories`. The
fixtures live in `tests/fixtures/` (loaded here as plugins); a test imports constants from
there (`tests.fixtures.backend`), never from a conftest.
"""

from __future__ import annotations

import pytest

from tests.fixtures.backend import BACKEND

# Shared fixtures: the app and its database, private services a test may break, extra databases,
# a booking paid through the real flow.
pytest_plugins = [
    "tests.fixtures.app", "tests.fixtures.services", "tests.fixtures.databases", "tests.fixtures.payment_flow",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND == "postgres":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL row locks; runs in the PostgreSQL pass")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    return f"AIS test database: {BACKEND}"
