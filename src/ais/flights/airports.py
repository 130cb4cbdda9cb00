"""Airports, cached in process memory: their time zones, and the directory the app lists.

Airports are reference data: a handful of rows, inserted by the seed and never updated (no
API changes them), and an airport's IANA zone is a fact of geography. So the zone cache only
ever grows, needs no invalidation, and search usually converts local dates without a query.
The directory (`AirportDirectory`, one per app: `ais.http.dependencies.AirportsDep`) is reread every
minute so that airports a seed adds show up in the list; a code it does not know yet is looked
up at once, so search never refuses an airport that exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ais.errors import ValidationFailed
from ais.flights import repository
from ais.flights.repository import AirportRow

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


class AirportDirectory:
    """Every airport, read from the database at most once a minute (and for a code it has not
    seen). Search checks its airport codes here without a query; the app's pickers list it."""

    def __init__(self, *, max_age_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_age = max_age_seconds
        self._clock = clock
        self._airports: dict[str, AirportRow] = {}
        self._loaded_at: float | None = None

    def _stale(self) -> bool:
        return self._loaded_at is None or self._clock() - self._loaded_at >= self._max_age

    async def _reload(self, session: AsyncSession) -> None:
        rows = await repository.all_airports(session)
        self._airports = {airport.code: airport for airport in rows}
        self._loaded_at = self._clock()

    async def all(self, session: AsyncSession) -> list[AirportRow]:
        """Every airport, by code; at most a minute old."""
        if self._stale():
            await self._reload(session)
        return sorted(self._airports.values(), key=lambda airport: airport.code)

    def knows(self, codes: Iterable[str]) -> bool:
        """Whether every code is a known airport, answered from memory alone (False when the
        directory is due for a reload: the caller then asks `require_known`)."""
        return not self._stale() and all(code in self._airports for code in codes)

    async def require_known(self, session: AsyncSession, codes: Mapping[str, str]) -> None:
        """`codes` maps a field name (as the client should read it) to an IATA code. Raises
        ValidationFailed naming every field whose code is no airport of ours. No query while
        the codes are known and the directory is fresh; one lookup of the unknown codes else."""
        if self._stale():
            await self._reload(session)
        unseen = {code for code in codes.values() if code not in self._airports}
        if unseen:  # perhaps added since the last reload (a seed, another process)
            for airport in await repository.airports_by_code(session, unseen):
                self._airports[airport.code] = airport
        errors = [
            {"field": field, "message": f"unknown airport {code}", "type": "unknown_airport"}
            for field, code in codes.items() if code not in self._airports
        ]
        if errors:
            raise ValidationFailed("Unknown airport code.", details={"errors": errors})
