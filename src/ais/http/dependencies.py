"""What a route gets from the edge: the process's runtime, the request's unit of work, and the
app's per-process memories (airports, access states, maintenance mode).

`UnitOfWorkDep` is the one transaction owner of a request: it commits when the endpoint has
returned (and its answer is serialised), before the answer is sent, so a commit that fails is an
error answer, never a success that did not happen; it rolls back when the endpoint raises. Routes,
services and repositories never commit. `SessionDep` is that unit of work's session, for routes
that need nothing else from it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from ais.db.unit_of_work import UnitOfWork
from ais.flights.airports import AirportDirectory
from ais.identity.access_check import AccessStateCache
from ais.maintenance.service import MaintenanceCache
from ais.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


# Every dependency below is `async def` although none awaits: FastAPI runs a plain `def`
# dependency in a worker thread, a thread hop per request only to read the app's state.
async def _runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


async def unit_of_work(runtime: RuntimeDep) -> AsyncIterator[UnitOfWork]:
    async with UnitOfWork(runtime) as uow:
        yield uow


# scope="function": the commit runs when the endpoint returns, before the response is sent.
UnitOfWorkDep = Annotated[UnitOfWork, Depends(unit_of_work, scope="function")]


async def request_session(uow: UnitOfWorkDep) -> AsyncSession:
    return uow.session


SessionDep = Annotated[AsyncSession, Depends(request_session)]


async def airports_of(request: Request) -> AirportDirectory:
    airports: AirportDirectory = request.app.state.airports
    return airports


async def access_states_of(request: Request) -> AccessStateCache:
    access_states: AccessStateCache = request.app.state.access_states
    return access_states


async def maintenance_of(request: Request) -> MaintenanceCache:
    maintenance: MaintenanceCache = request.app.state.maintenance
    return maintenance


# Per-process memories of the app (see `ais.app.create_app`).
AirportsDep = Annotated[AirportDirectory, Depends(airports_of)]
AccessStatesDep = Annotated[AccessStateCache, Depends(access_states_of)]
MaintenanceDep = Annotated[MaintenanceCache, Depends(maintenance_of)]
