"""Booking suites: a passenger, another passenger and an admin, made through the real app."""

from __future__ import annotations

import pytest

from tests.factories import new_user


@pytest.fixture
async def passenger(client, runtime):
    return await new_user(client, runtime)


@pytest.fixture
async def other_passenger(client, runtime):
    return await new_user(client, runtime)


@pytest.fixture
async def admin(client, runtime):
    return await new_user(client, runtime, admin=True)
