from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from ais.flights.models import Cabin
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


async def seats_left(runtime, cabin_id: str) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(select(Cabin.seats_available).where(Cabin.id == uuid.UUID(cabin_id))))
