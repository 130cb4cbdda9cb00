"""Cache hits of `GET /api/v1/flights/search`, answered before the framework's routing.

Most searches are answered from the search cache (`ais.cache.search_cache`). For those the route's
real work is one store round trip, yet routing through every route of the API, solving its
dependencies and validating its query cost several times as much. `CachedSearchMiddleware`, the
innermost middleware (so the correlation id, the access log, the latency metric, the security
headers and the body limit all apply as to any request), finds the hit itself and answers it with
the route's own response: the same bytes and headers.

Anything else goes on to the route unchanged: a miss, `Cache-Control: no-cache`/`no-store`, a
query the route would refuse or read differently (invalid, a parameter given twice, a NUL
character), an airport this process has not seen yet, a store that is down. After a miss the
route reuses the lookup made here (`lookup_made_for`) rather than asking the store again, so
every search still makes exactly one lookup and its version is read before the query.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ais.cache import search_cache
from ais.cache.search_cache import CacheMode, Lookup
from ais.flights.schemas import SearchCriteria
from ais.flights.service import SearchAnswer

SEARCH_PATH = "/api/v1/flights/search"
# The query parameters the route reads, by the names a client sends (derived: a field added to the
# criteria is read here too, never silently left at its default).
_FIELDS = frozenset(field.alias or name for name, field in SearchCriteria.model_fields.items())
_CACHE_CONTROL = b"cache-control"
_LOOKUP_STATE = "ais.search_lookup"


class CachedSearchMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: APIRoute | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["path"] == SEARCH_PATH and scope["method"] == "GET"
                and await self._answered_from_cache(scope, receive, send)):
            return
        await self.app(scope, receive, send)

    async def _answered_from_cache(self, scope: Scope, receive: Receive, send: Send) -> bool:
        if _cache_mode(scope["headers"]) is not CacheMode.USE:
            return False
        criteria = _criteria(scope["query_string"])
        if criteria is None:
            return False
        app = scope["app"]
        if not app.state.airports.knows((criteria.from_, criteria.to)):
            return False
        identity = criteria.cache_identity()
        found = await search_cache.lookup(app.state.runtime.store, identity)
        if found.payload is None:
            scope.setdefault("state", {})[_LOOKUP_STATE] = (identity, found)
            return False
        scope["route"] = self._search_route(app)  # the access log and the metric name the route
        await search_response(SearchAnswer(found.payload, found.outcome))(scope, receive, send)
        return True

    def _search_route(self, app: object) -> APIRoute | None:
        if self._route is None:
            self._route = _find_route(getattr(app, "routes", ()))
        return self._route


def _find_route(routes: Iterable[object]) -> APIRoute | None:
    """The search route among the app's routes (included routers are nested, not flattened)."""
    for route in routes:
        if isinstance(route, APIRoute) and route.path == SEARCH_PATH and "GET" in (route.methods or ()):
            return route
        included = getattr(getattr(route, "original_router", None), "routes", None)
        found = _find_route(included) if included else None
        if found is not None:
            return found
    return None


def search_response(answer: SearchAnswer) -> Response:
    """The search's HTTP answer, from the cache or not: the JSON and where it came from."""
    return Response(answer.payload, media_type="application/json", headers={"X-Cache": answer.cache.upper()})


def lookup_made_for(request: Request, criteria: SearchCriteria) -> Lookup | None:
    """The cache lookup the middleware already made for this very search (a miss), if any."""
    made = request.scope.get("state", {}).get(_LOOKUP_STATE)
    if made is None or made[0] != criteria.cache_identity():
        return None
    lookup: Lookup = made[1]
    return lookup


def _criteria(query_string: bytes) -> SearchCriteria | None:
    """The search as the route would read it, or None when the route must decide (it answers the
    errors, and a repeated parameter or a NUL character is its to judge)."""
    if b"%00" in query_string or b"\x00" in query_string:
        return None
    params: dict[str, str] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in _FIELDS:
            if name in params:
                return None
            params[name] = value
    try:
        return SearchCriteria.model_validate(params)
    except ValidationError:
        return None


def _cache_mode(headers: list[tuple[bytes, bytes]]) -> CacheMode | None:
    """The request's cache mode; None (not ours to read) when Cache-Control is given twice."""
    given = [value for name, value in headers if name == _CACHE_CONTROL]
    if len(given) > 1:
        return None
    return CacheMode.from_header(given[0].decode("latin-1") if given else None)
