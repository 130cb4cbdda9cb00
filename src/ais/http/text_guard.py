"""Query and path parameters never carry a NUL character into SQL.

PostgreSQL text cannot hold NUL, so a filter or id with one made the database raise and the route
answer 500 (SQLite compared it silently). No parameter of this API has a use for NUL: it is
refused for every route at once (request bodies have the same rule in `StrictApiModel`).
"""

from __future__ import annotations

from fastapi import Request

from ais.errors import ValidationFailed

_MESSAGE = "must not contain NUL characters"


async def refuse_nul_characters(request: Request) -> None:
    errors = [
        {"field": f"query.{name}", "message": _MESSAGE, "type": "value_error"}
        for name, value in request.query_params.multi_items()
        if "\x00" in name or "\x00" in value
    ]
    errors += [
        {"field": f"path.{name}", "message": _MESSAGE, "type": "value_error"}
        for name, value in request.path_params.items()
        if isinstance(value, str) and "\x00" in value
    ]
    if errors:
        raise ValidationFailed(details={"errors": errors})
