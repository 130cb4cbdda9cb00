"""The HTTP side of the error contract: every non-2xx answer is
`{code, message, correlationId, retryable, details}`.

Domain code raises an `ais.errors.AISError` subclass named after the situation; the handlers
here turn it, the framework's own errors (404, 405, 422 …) and transient database errors into
that body. `responses(...)` declares the same body in OpenAPI, so /docs shows every code a route
can answer.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from ais.db.errors import is_transient_database_error, sqlstate
from ais.errors import ALL_ERRORS, AISError, IdempotencyKeyRequired
from ais.http.idempotency import IDEMPOTENCY_HEADER, IdempotentReplay, replay_response
from ais.ops.correlation import current_correlation_id

_log = structlog.get_logger("ais.db")

# The framework's own refusals, by status: (code, message). METHOD_NOT_ALLOWED is the one code
# that only the framework answers (no AISError raises it), so it is described here alone.
_HTTP_CODES = {
    400: ("VALIDATION_ERROR", "The request is malformed."),
    401: ("UNAUTHORIZED", "Authentication is required."),
    403: ("FORBIDDEN", "You may not do this."),
    404: ("NOT_FOUND", "Not found."),
    405: ("METHOD_NOT_ALLOWED", "This method is not allowed on this path."),
    409: ("BOOKING_CONFLICT", "Conflict."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large."),
    415: ("VALIDATION_ERROR", "Unsupported media type."),
    422: ("VALIDATION_ERROR", "The request is not valid."),
    429: ("RATE_LIMITED", "Too many requests; retry later."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable; retry later."),
}
EXAMPLE_CORRELATION_ID = "5f0c2a8e4b0d4f7e9d8c1b2a3f4e5d6c"


class ErrorBody(BaseModel):
    code: str = Field(examples=["SEATS_UNAVAILABLE"])
    message: str = Field(examples=["Not enough seats are available in this cabin."])
    correlationId: str = Field(examples=[EXAMPLE_CORRELATION_ID])
    retryable: bool = Field(examples=[False])
    details: dict[str, Any] = Field(default_factory=dict)


def error_body(
    code: str, message: str, *, retryable: bool = False, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "correlationId": current_correlation_id(),
        "retryable": retryable,
        "details": details or {},
    }


def error_response(status: int, code: str, message: str, *, retryable: bool | None = None) -> JSONResponse:
    """An error answer built by the edge itself (e.g. the webhook's), in the contract's shape."""
    return JSONResponse(error_body(code, message, retryable=status >= 500 if retryable is None else retryable),
                        status_code=status)


def ais_error_response(exc: AISError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.message, retryable=exc.retryable, details=exc.details),
        status_code=exc.status_code,
        headers=exc.headers or None,
    )


def internal_error_response(correlation_id: str) -> JSONResponse:
    # No exception text in the body: it may hold SQL, paths or secrets.
    return JSONResponse(
        {
            "code": "INTERNAL_ERROR",
            "message": "An unexpected error occurred; it has been logged.",
            "correlationId": correlation_id,
            "retryable": False,
            "details": {},
        },
        status_code=500,
    )


# --- OpenAPI declarations ---------------------------------------------------------------------

_BY_CODE = {cls.code: (cls.status_code, cls.default_message, cls.retryable) for cls in ALL_ERRORS}
_FRAMEWORK_ONLY = {code: (status, message, False) for status, (code, message) in _HTTP_CODES.items()
                   if code not in _BY_CODE}


def _describe(code: str) -> tuple[int, str, bool]:
    return _BY_CODE[code] if code in _BY_CODE else _FRAMEWORK_ONLY[code]


def responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with the contract body and one example per code.
    Every route may also answer VALIDATION_ERROR, PAYLOAD_TOO_LARGE (the body limit applies to
    every request), SERVICE_UNAVAILABLE and INTERNAL_ERROR."""
    grouped: dict[int, list[tuple[str, str, bool]]] = {}
    for code in (*codes, "VALIDATION_ERROR", "PAYLOAD_TOO_LARGE", "SERVICE_UNAVAILABLE", "INTERNAL_ERROR"):
        status, message, retryable = _describe(code)
        entry = (code, message, retryable)
        if entry not in grouped.setdefault(status, []):
            grouped[status].append(entry)
    result: dict[int | str, dict[str, Any]] = {}
    for status, entries in sorted(grouped.items()):
        result[status] = {
            "model": ErrorBody,
            "description": " · ".join(code for code, _, _ in entries),
            "content": {
                "application/json": {
                    "examples": {
                        code: {
                            "summary": code,
                            "value": {
                                "code": code,
                                "message": message,
                                "correlationId": EXAMPLE_CORRELATION_ID,
                                "retryable": retryable,
                                "details": {},
                            },
                        }
                        for code, message, retryable in entries
                    }
                }
            },
        }
    return result


# --- handlers -----------------------------------------------------------------------------------

def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    errors = []
    for error in exc.errors():
        # The rejected input is left out: it may be a password.
        loc = [str(part) for part in error.get("loc", ())]
        errors.append({"field": ".".join(loc), "message": error.get("msg", ""), "type": error.get("type")})
    return {"errors": errors}


async def _on_ais_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AISError)
    return ais_error_response(exc)


def _only_the_idempotency_key_is_missing(exc: RequestValidationError) -> bool:
    """The header is declared required (so the document says so), but its absence has its own
    contract answer: 400 IDEMPOTENCY_KEY_REQUIRED. With other problems too, the 422 lists them all."""
    errors = exc.errors()
    return len(errors) == 1 and errors[0].get("type") == "missing" and \
        tuple(errors[0].get("loc", ())) == ("header", IDEMPOTENCY_HEADER)


async def _on_replay(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    return replay_response(exc.answer)


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if _only_the_idempotency_key_is_missing(exc):
        return ais_error_response(IdempotencyKeyRequired())
    return JSONResponse(
        error_body("VALIDATION_ERROR", "The request is not valid.", details=_validation_details(exc)),
        status_code=422,
    )


async def _on_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, message = _HTTP_CODES.get(exc.status_code, ("INTERNAL_ERROR", "Error."))
    if isinstance(exc.detail, str) and exc.status_code not in (404, 405):
        message = exc.detail
    # A code has one status in the contract: a body the framework could not parse (its 400,
    # e.g. JSON nested too deeply) is a VALIDATION_ERROR, and that is always 422.
    status_code = 422 if code == "VALIDATION_ERROR" else exc.status_code
    return JSONResponse(
        error_body(code, message, retryable=exc.status_code in (429, 503)),
        status_code=status_code,
        headers=getattr(exc, "headers", None),
    )


async def _on_database_error(_request: Request, exc: Exception) -> JSONResponse:
    """A database that is down, restarting, out of connections, or past a lock or statement
    timeout is "unavailable, retry" (503), never a crash; any other database error stays a 500."""
    if is_transient_database_error(exc):
        _log.warning("database_unavailable", error_type=type(exc).__name__, sqlstate=sqlstate(exc))
        return JSONResponse(
            error_body(
                "SERVICE_UNAVAILABLE", "The database is unavailable or busy; retry shortly.", retryable=True
            ),
            status_code=503,
            headers={"Retry-After": "1"},
        )
    raise exc


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AISError, _on_ais_error)
    app.add_exception_handler(IdempotentReplay, _on_replay)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(PoolTimeout, _on_database_error)
    app.add_exception_handler(OSError, _on_database_error)
