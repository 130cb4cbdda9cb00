"""The baseline for bench/search.py: a bare FastAPI app whose one endpoint runs one pooled
5-row query, with the same driver, pool and connection settings as AIS (the engine comes from
`ais.db.engine.create_engine` and the same environment: DATABASE_URL, DB_POOL_SIZE, ...).

    uvicorn --factory bare_app:create_app --app-dir bench
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from ais.config import Settings
from ais.db.engine import create_engine
from ais.flights.models import Flight


def create_app() -> FastAPI:
    engine = create_engine(Settings())
    statement = (
        select(Flight.id, Flight.flight_number, Flight.origin, Flight.destination, Flight.departure_at,
               Flight.arrival_at)
        .limit(5)
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/bare/flights")
    async def five_flights() -> dict[str, Any]:
        async with engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        return {"flights": [
            {"id": str(row.id), "flightNumber": row.flight_number, "from": row.origin, "to": row.destination,
             "departureTime": row.departure_at.isoformat(), "arrivalTime": row.arrival_at.isoformat()}
            for row in rows
        ]}

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app
