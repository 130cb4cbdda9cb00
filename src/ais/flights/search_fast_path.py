"""`GET /api/v1/flights/search`, answered before the framework's routing.

Search is the busiest route, and most of its answers come from the search cache
(`ais.cache.search_cache`): one store round trip. Routing through every route of the API, solving
the route's dependencies and validating its query cost several times as much as that, and as much
as the database query of a miss. `SearchFastPathMiddleware`, the innermost middleware (so the
correlation id, the access log, the latency metric, the security headers and the body limit all
apply as to any request), reads the query as the route would and answers it with the same service
call and the same response as the route: hit, miss, `Cache-Control: no-cache` or `no-store`. An
error is answered by the app's own exception handlers, as the route's would be.

Whatever the route would judge differently goes on to it unchanged: a query it would refuse (the
route's 422 names the fields), a parameter given twice, a NUL character, Cache-Control given twice,
an airport this process has not seen yet (the route loads the airports, or refuses the code). The
route (also `POST`, which has a body) stays the documented one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ais.cache.search_cache import CacheMode
from ais.flights import service
from ais.flights.schemas import SearchCriteria
from ais.flights.service import SearchAnswer

SEARCH_PATH = "/api/v1/flights/search"
# The query parameters the route reads, by the names a client sends (derived: a field added to the
# criteria is read here too, never silently left at its default).
_FIELDS = frozenset(field.alias or name for name, field in SearchCriteria.model_fields.items())
_CACHE_CONTROL = b"cache-control"


class SearchFastPathMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: APIRoute | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["path"] == SEARCH_PATH and scope["method"] == "GET"
                and await self._answered(scope, receive, send)):
            return
        await self.app(scope, receive, send)

    async def _answered(self, scope: Scope, receive: Receive, send: Send) -> bool:
        mode = _cache_mode(scope["headers"])
        criteria = _criteria(scope["query_string"]) if mode is not None else None
        if mode is None or criteria is None:
            return False
        app = scope["app"]
        airports = app.state.airports
        if not airports.knows((criteria.from_, criteria.to)):
            return False
        scope["route"] = self._search_route(app)  # the access log and the metric name the route
        runtime = app.state.runtime
        try:
            answer = await service.search_flights(runtime.autocommit_session_factory, runtime.store, airports,
                                                  criteria, mode=mode)
            response = search_response(answer)
        except Exception as exc:
            handler = _exception_handler(app, exc)
            if handler is None:
                raise  # as from the route: the outermost layer answers the contract's 500
            response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)
        return True

    def _search_route(self, app: object) -> APIRoute | None:
        if self._route is None:
            self._route = _find_route(getattr(app, "routes", ()))
        return self._route


def _exception_handler(app: Any, exc: Exception) -> Any:
    """The app's handler for `exc` (the most specific class first), as the framework picks it."""
    handlers = app.exception_handlers
    return next((handlers[kind] for kind in type(exc).__mro__ if kind in handlers), None)


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
