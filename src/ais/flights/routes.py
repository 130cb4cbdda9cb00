"""Public flight routes: airports, search (cached, SPEC §9) and flight detail (always live).
No token needed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from ais.cache.search_cache import CacheMode
from ais.flights import service
from ais.flights.schemas import AirportList, FlightDetail, SearchCriteria, SearchRequest, SearchResult
from ais.flights.search_fast_path import search_response
from ais.http.dependencies import AirportsDep, RuntimeDep, SessionDep
from ais.http.errors import responses

router = APIRouter(prefix="/api/v1", tags=["flights"])

CacheControl = Annotated[
    str | None,
    Header(
        alias="Cache-Control",
        description="`no-cache` answers from the database (and refreshes the cached entry); "
        "`no-store` neither reads nor writes the cache. Otherwise answers may be up to 60 s old "
        "(any change to flights, fares or seat availability invalidates them at once).",
    ),
]
SEARCH_DOC = (
    "Flights from `from` to `to` departing on `date`, the **local date at the origin airport**, "
    "with at least `passengers` seats left in `cabin`. An airport code that is not in "
    "`GET /api/v1/airports` is a VALIDATION_ERROR naming the field. Only scheduled or delayed flights that "
    "have not yet departed, earliest first. `price` is the fare per passenger as a decimal "
    "string in `currency`; times carry each airport's local offset. "
    "The `X-Cache` response header tells whether the answer came from the cache."
)


# Airports change with a new seed, not by the minute: apps may keep the list for a while.
AIRPORTS_MAX_AGE_SECONDS = 300


@router.get("/airports", response_model=AirportList, responses=responses())
async def list_airports(response: Response, session: SessionDep, airports: AirportsDep) -> AirportList:
    """Every airport we serve, for the app's pickers: all of them at once (no cursor), each with
    its IANA time zone (flight times at an airport carry that zone's offset)."""
    response.headers["Cache-Control"] = f"public, max-age={AIRPORTS_MAX_AGE_SECONDS}"
    return await service.list_airports(session, airports)


@router.get("/flights/search", response_model=SearchResult, responses=responses(), description=SEARCH_DOC)
async def search_flights(
    criteria: Annotated[SearchCriteria, Query()], runtime: RuntimeDep, airports: AirportsDep,
    cache_control: CacheControl = None,
) -> Response:
    # Most searches never get here: `ais.flights.search_fast_path` answers them the same way.
    answer = await service.search_flights(runtime.autocommit_session_factory, runtime.store, airports, criteria,
                                          mode=CacheMode.from_header(cache_control))
    return search_response(answer)


@router.post("/flights/search", response_model=SearchResult, responses=responses(), description=SEARCH_DOC)
async def search_flights_post(
    body: SearchRequest, runtime: RuntimeDep, airports: AirportsDep, cache_control: CacheControl = None,
) -> Response:
    answer = await service.search_flights(runtime.autocommit_session_factory, runtime.store, airports, body,
                                          mode=CacheMode.from_header(cache_control))
    return search_response(answer)


@router.get("/flights/{flight_id}", response_model=FlightDetail, responses=responses("NOT_FOUND"))
async def get_flight(flight_id: str, session: SessionDep) -> FlightDetail:
    """The flight with live seat counts per cabin (never from the search cache)."""
    return await service.get_flight(session, service.parse_flight_id(flight_id))
