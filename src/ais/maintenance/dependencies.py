"""`NotDuringMaintenance`: the one-line guard of the routes that maintenance mode pauses."""

from __future__ import annotations

from fastapi import Depends, Request

from ais.identity.dependencies import CurrentUser
from ais.maintenance.service import refuse_if_on


async def refuse_during_maintenance(request: Request, _user: CurrentUser) -> None:
    """503 SERVICE_UNAVAILABLE while maintenance mode is on. After authentication (a caller
    without a valid token still gets 401), before anything is claimed or written."""
    runtime = request.app.state.runtime
    refuse_if_on(await runtime.maintenance.current(runtime.session_factory))


NotDuringMaintenance = Depends(refuse_during_maintenance)
