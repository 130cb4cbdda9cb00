"""Structured logs, one line per event, carrying the correlation id of the request or job.

JSON lines for machines (production always, and development whenever stdout is a pipe or a file);
human-readable colored lines when a person watches a development server in a terminal.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

# Keys whose values never reach a log line, whatever a caller binds.
_REDACTED_KEYS = {
    "password", "access_token", "refresh_token", "accesstoken", "refreshtoken", "authorization",
    "token", "secret", "jwt_secret", "card", "cookie", "stripe_secret_key", "api_key",
}


def _redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if key.lower() in _REDACTED_KEYS:
            event[key] = "[redacted]"
    return event


class _CurrentStdout:
    """Writes to `sys.stdout` as it is when a line is written, not as it was when logging was
    configured: whoever swaps the stream later (a test capturing output, a daemon) still gets the lines."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def human_readable(production: bool) -> bool:
    """Readable lines only for a person at a terminal, never in production (log shippers parse JSON)."""
    try:
        return not production and sys.stdout.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def configure_logging(level: str = "INFO", *, production: bool = False) -> None:
    human = human_readable(production)
    renderer: Any = structlog.dev.ConsoleRenderer(colors=True) if human else structlog.processors.JSONRenderer()
    # The console renderer formats exceptions itself (readably); JSON needs them as a string field.
    exceptions: list[Any] = [] if human else [structlog.processors.format_exc_info]
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    structlog.configure(
        processors=[
            *shared,
            *exceptions,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStdout()),  # type: ignore[arg-type]
        # Not cached: module-level loggers used before a second configure_logging() (the CLI,
        # then create_app with LOG_LEVEL) would otherwise keep the first level forever.
        cache_logger_on_first_use=False,
    )
    # Route stdlib logging (uvicorn, sqlalchemy, alembic) through the same renderer.
    handler = logging.StreamHandler(_CurrentStdout())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    # Alembic announces each of its plugins when imported (the readiness check reads its scripts).
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
