"""The references of the search benchmarks: a bare FastAPI app with
* `/bare/flights`: one pooled 5-row query, with the same driver, pool and connection settings as
  AIS (the engine comes from `ais.db.engine.create_engine` and the same environment:
  DATABASE_URL, DB_POOL_SIZE, ...) — what an uncached search could cost at best;
* `/bare/constant`: a constant JSON document, already encoded (by default the bytes of the AIS
  search answer the benchmark measures, from the file named by BENCH_CONSTANT_JSON) — what a cache
  hit could cost at best: the framework and the bytes.

    uvicorn --factory bare_app:create_app --app-dir bench
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response
from sqlalchemy import text

from ais.config import Settings
from ais.db.engine import create_engine

# Plain SQL rather than the ORM classes: the reference must not change when the models move.
FIVE_FLIGHTS = text("SELECT id, flight_number, origin, destination, departure_at, arrival_at FROM flights LIMIT 5")


def _constant_json() -> bytes:
    path = os.environ.get("BENCH_CONSTANT_JSON")
    return Path(path).read_bytes() if path else b'{"flights":[]}'


def create_app() -> FastAPI:
    engine = create_engine(Settings())
    constant = _constant_json()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/bare/flights")
    async def five_flights() -> dict[str, Any]:
        async with engine.connect() as connection:
            rows = (await connection.execute(FIVE_FLIGHTS)).all()
        return {"flights": [
            {"id": str(row.id), "flightNumber": row.flight_number, "from": row.origin, "to": row.destination,
             "departureTime": row.departure_at.isoformat(), "arrivalTime": row.arrival_at.isoformat()}
            for row in rows
        ]}

    @app.get("/bare/constant")
    async def constant_json() -> Response:
        return Response(content=constant, media_type="application/json")

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app
