"""`NotDuringMaintenance`: the one-line guard of the routes that maintenance mode pauses."""

from __future__ import annotations

from fastapi import Depends

from ais.http.dependencies import MaintenanceDep, RuntimeDep
from ais.identity.dependencies import CurrentUser
from ais.maintenance.service import refuse_if_on


async def refuse_during_maintenance(_user: CurrentUser, runtime: RuntimeDep, maintenance: MaintenanceDep) -> None:
    """503 SERVICE_UNAVAILABLE while maintenance mode is on. After authentication (a caller
    without a valid token still gets 401), before anything is claimed or written."""
    refuse_if_on(await maintenance.current(runtime.session_factory))


NotDuringMaintenance = Depends(refuse_during_maintenance)
