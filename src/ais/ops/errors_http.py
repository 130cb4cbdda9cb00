"""Maps every error, ours and the framework's, onto the contract body."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ais.errors import AISError, IdempotencyKeyRequired
from ais.idempotency.dependencies import IDEMPOTENCY_HEADER
from ais.ops.correlation import current_correlation_id

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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AISError, _on_ais_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    install_database_error_handler(app)


async def _on_database_error(_request: Request, exc: Exception) -> JSONResponse:
    """A database that is down, restarting, out of connections, or past a lock or statement
    timeout is "unavailable, retry" (503), never a crash; any other database error stays a 500."""
    if is_transient_database_error(exc):
        from ais.ops.logging import get_logger

        get_logger("ais.db").warning(
            "database_unavailable", error_type=type(exc).__name__, sqlstate=_sqlstate(exc)
        )
        return JSONResponse(
            error_body(
                "SERVICE_UNAVAILABLE", "The database is unavailable or busy; retry shortly.", retryable=True
            ),
            status_code=503,
            headers={"Retry-After": "1"},
        )
    raise exc


# PostgreSQL SQLSTATEs after which the same request may well succeed in a moment: connection
# exceptions (08…), insufficient resources such as too many clients (53…), operator intervention:
# shutting down, starting up, crash recovery, statement timeout (57…); lock timeout, serialization
# failure, deadlock. Matched on the code, not the message text, which the server may translate.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57")
_TRANSIENT_SQLSTATES = {"55P03", "40001", "40P01"}


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else None


def is_transient_database_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = _sqlstate(exc)
        if sqlstate is not None:
            return sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES) or sqlstate in _TRANSIENT_SQLSTATES
        text = f"{type(exc.orig).__name__} {exc.orig}".lower()
        transient = (
            "locknotavailable", "lock timeout", "deadlock", "serialization", "database is locked",
            "connection", "cannot connect", "too many clients", "querycanceled",
        )
        return any(marker in text for marker in transient)
    # Raised by the driver before there is a connection to speak of: refused, unreachable, reset,
    # or the connect or statement timeout (TimeoutError is an OSError).
    return isinstance(exc, OSError)


def install_database_error_handler(app: FastAPI) -> None:
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(PoolTimeout, _on_database_error)
    app.add_exception_handler(OSError, _on_database_error)
