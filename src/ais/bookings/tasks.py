from __future__ import annotations

from ais.runtime import Runtime


async def expire_stale_holds(runtime: Runtime) -> int:
    return 0


async def complete_departed_flights(runtime: Runtime) -> int:
    return 0
