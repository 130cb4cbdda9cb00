"""Airport time zones, cached in process memory.

Airports are reference data: a handful of rows, inserted by the seed and never updated (no
API changes them), and an airport's IANA zone is a fact of geography. So the cache only ever
grows, needs no invalidation, and search usually converts local dates without a query.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ais.flights import repository

_log = structlog.get_logger("ais.flights")
_ZONES: dict[str, tzinfo] = {}

AirportZones = dict[str, tzinfo]


async def airport_zones(session: AsyncSession, codes: Iterable[str]) -> AirportZones:
    """IATA code → time zone for the given codes that exist; at most one query, none when cached.

    Unknown codes are simply absent from the answer (callers decide what that means)."""
    wanted = set(codes)
    missing = wanted.difference(_ZONES)
    if missing:
        for code, name in (await repository.airport_timezones(session, missing)).items():
            _ZONES[code] = _zone(code, name)
    return {code: _ZONES[code] for code in wanted if code in _ZONES}


def _zone(code: str, name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Bad reference data must not take search down: times are still exact, shown in UTC.
        _log.error("airport_timezone_invalid", airport=code, timezone=name)
        return UTC
