"""Which database errors are transient: the same request may well succeed in a moment.

The HTTP edge answers them 503 "retry" (`ais.http.errors`), the webhook inbox and reconciliation
log them as expected rather than as crashes.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# PostgreSQL SQLSTATEs after which the same request may well succeed in a moment: connection
# exceptions (08…), insufficient resources such as too many clients (53…), operator intervention:
# shutting down, starting up, crash recovery, statement timeout (57…); lock timeout, serialization
# failure, deadlock. Matched on the code, not the message text, which the server may translate.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57")
_TRANSIENT_SQLSTATES = {"55P03", "40001", "40P01"}


def sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else None


def is_transient_database_error(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        code = sqlstate(exc)
        if code is not None:
            return code.startswith(_TRANSIENT_SQLSTATE_CLASSES) or code in _TRANSIENT_SQLSTATES
        text = f"{type(exc.orig).__name__} {exc.orig}".lower()
        transient = (
            "locknotavailable", "lock timeout", "deadlock", "serialization", "database is locked",
            "connection", "cannot connect", "too many clients", "querycanceled",
        )
        return any(marker in text for marker in transient)
    # Raised by the driver before there is a connection to speak of: refused, unreachable, reset,
    # or the connect or statement timeout (TimeoutError is an OSError).
    return isinstance(exc, OSError)
