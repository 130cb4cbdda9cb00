"""The outermost ASGI layer: correlation id, one access-log line, latency metric, and a last
line of defence that answers any unexpected exception with the contract's 500 body."""

from __future__ import annotations

import time
from typing import Any

import sentry_sdk
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ais.http.errors import internal_error_response
from ais.ops.correlation import HEADER, accept_or_generate, set_correlation_id
from ais.ops.metrics import REQUEST_LATENCY

_log = structlog.get_logger("ais.http")
_HEADER_BYTES = HEADER.lower().encode()


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == _HEADER_BYTES:
                incoming = value.decode("latin-1")
                break
        correlation_id = accept_or_generate(incoming)
        set_correlation_id(correlation_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500, "started": False}

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                headers = [(k, v) for k, v in message.get("headers", []) if k != _HEADER_BYTES]
                headers.append((_HEADER_BYTES, correlation_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        except Exception as exc:
            _log.exception("unhandled_exception", path=scope.get("path"))
            sentry_sdk.capture_exception(exc)
            if not status_holder["started"]:
                response = internal_error_response(correlation_id)
                await response(scope, receive, send_with_header)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUEST_LATENCY.labels(scope["method"], template, str(status_holder["status"])).observe(elapsed)
            _log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                route=template,
                status=status_holder["status"],
                duration_ms=round(elapsed * 1000, 2),
            )
