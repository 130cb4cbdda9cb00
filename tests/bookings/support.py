"""What the booking suites read from the database directly."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from ais.flights.models import Cabin


async def seats_left(runtime, cabin_id: str) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(select(Cabin.seats_available).where(Cabin.id == uuid.UUID(cabin_id))))
