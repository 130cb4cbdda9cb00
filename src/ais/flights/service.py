"""Flight search and flight detail (read-only; nothing here writes or commits)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ais.cache import search_cache
from ais.cache.search_cache import CacheMode
from ais.cache.store import KeyValueStore
from ais.db.base import utcnow
from ais.errors import NotFound
from ais.flights import repository
from ais.flights.airports import AirportDirectory, airport_zones
from ais.flights.models import Flight
from ais.flights.presenters import flight_detail, flight_offer
from ais.flights.rules import SELLABLE_STATUSES
from ais.flights.schemas import AirportList, AirportOut, FlightDetail, SearchCriteria, SearchResult


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    payload: bytes  # the JSON body, exactly as cached
    cache: str  # hit | miss | bypass | unavailable


def parse_flight_id(raw: str) -> uuid.UUID:
    """A path id → UUID; a malformed one names no flight, so it is NOT_FOUND like an unknown one."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("No such flight.") from None


def local_day_in_utc(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a local calendar day; DST days are 23 or 25 hours long."""
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


async def search_flights(read_sessions: async_sessionmaker[AsyncSession], store: KeyValueStore,
                         airports: AirportDirectory, criteria: SearchCriteria, *,
                         mode: CacheMode = CacheMode.USE) -> SearchAnswer:
    """Sellable flights (scheduled or delayed, departing in the future, at least `passengers`
    seats in the cabin) leaving `from` on the local `date` there, earliest first.

    Raises ValidationFailed naming `from`/`to` when a code is no airport of ours (checked in
    process memory: no query for known codes). Answers from the search cache when it can (at
    most 60 s old; invalidated on every change a search shows); from the database otherwise,
    including when the cache store is down. The cache version is read before the query, which
    keeps invalidation race-free. A session of `read_sessions` (autocommit: search only reads)
    is opened only to read the database, so a cache hit of known airports opens none."""
    codes = criteria.airport_fields()
    if not airports.knows(codes.values()):
        async with read_sessions() as session:
            await airports.require_known(session, codes)
    cached = await search_cache.lookup(store, criteria.cache_identity(), mode)
    if cached.payload is not None:
        return SearchAnswer(cached.payload, cached.outcome)
    async with read_sessions() as session:
        payload = (await _search_database(session, criteria)).model_dump_json(by_alias=True).encode()
    if cached.key is not None:  # None: no-store, or the store is down
        await search_cache.remember(store, cached.key, payload)
    return SearchAnswer(payload, cached.outcome)


async def _search_database(session: AsyncSession, criteria: SearchCriteria) -> SearchResult:
    zones = await airport_zones(session, (criteria.from_, criteria.to))
    if criteria.from_ not in zones or criteria.to not in zones:
        return SearchResult(flights=[])  # an airport we do not serve has no flights
    day_start, day_end = local_day_in_utc(criteria.travel_date, zones[criteria.from_])
    rows = await repository.find_offers(
        session,
        origin=criteria.from_,
        destination=criteria.to,
        departs_from=max(day_start, utcnow()),
        departs_before=day_end,
        cabin=criteria.cabin,
        min_seats=criteria.passengers,
        statuses=SELLABLE_STATUSES,
    )
    return SearchResult(flights=[flight_offer(row, criteria.cabin, zones) for row in rows])


async def list_airports(session: AsyncSession, airports: AirportDirectory) -> AirportList:
    """Every airport we serve, by code (at most a minute old)."""
    return AirportList(items=[
        AirportOut(code=a.code, name=a.name, city=a.city, country=a.country, time_zone=a.timezone)
        for a in await airports.all(session)
    ])


async def get_flight(session: AsyncSession, flight_id: uuid.UUID) -> FlightDetail:
    """The flight with live seat counts (never from the search cache); NotFound if unknown."""
    flight = await repository.flight_with_cabins(session, flight_id)
    if flight is None:
        raise NotFound("No such flight.")
    return await present_flight(session, flight)


async def present_flight(session: AsyncSession, flight: Flight) -> FlightDetail:
    """A flight whose cabins are loaded → the API shape, with airport-local times."""
    zones = await airport_zones(session, (flight.origin, flight.destination))
    return flight_detail(flight, zones)
