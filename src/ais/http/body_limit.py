"""Request bodies are capped (SPEC §6): 1 MiB by default, 64 KiB on the auth routes, which anyone
may call without a token. The answer is 413 PAYLOAD_TOO_LARGE, decided before the body is read
whole: a declared Content-Length over the limit is refused before a byte of the body is read, and
a body without a length (chunked) is counted as it streams and cut off at the limit.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ais.errors import PayloadTooLarge
from ais.http.errors import ais_error_response

DEFAULT_LIMIT_BYTES = 1024 * 1024
AUTH_LIMIT_BYTES = 64 * 1024
AUTH_PREFIX = "/api/v1/auth/"


def limit_for(path: str) -> int:
    return AUTH_LIMIT_BYTES if path.startswith(AUTH_PREFIX) else DEFAULT_LIMIT_BYTES


def declared_length(scope: Scope) -> int | None:
    """The Content-Length, or None for a body without one: chunked (counted as it streams) or
    no body at all."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses a malformed length before we see it
    return None


def _may_stream(scope: Scope) -> bool:
    """Whether the body's length is decided as it streams (Transfer-Encoding, which overrides a
    Content-Length). Without it the HTTP server hands on at most the declared length (none: no
    body at all), so there is nothing to count."""
    return any(name == b"transfer-encoding" for name, _ in scope["headers"])


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(limit, scope, receive, send)
            return
        if not _may_stream(scope):  # its declared length (within the limit) or no body: nothing to count
            await self.app(scope, receive, send)
            return
        received = 0
        exceeded = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    # Raised into whatever is reading the body; no more of it is read.
                    raise PayloadTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            # Once the limit is crossed, whatever the app makes of the interrupted read (the
            # framework turns it into a 400) is replaced by our 413 below.
            if exceeded and not response_started:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except PayloadTooLarge:
            if not exceeded:
                raise
        if exceeded and not response_started:
            await _refuse(limit, scope, receive, send)


# While the 413 is open, what the client is still sending is read and dropped for a moment (as
# nginx's lingering close does): a server that closes a socket with unread data resets it, and the
# reset throws away whatever of the answer is still in flight (seen under load: the client got no
# 413). The answer carries its Content-Length, so the client has it all before the end is sent;
# the bounds keep a client that never stops from holding the connection.
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 8 * 1024 * 1024


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = ais_error_response(PayloadTooLarge(limit))
    # The rest of the body is never read: the connection cannot carry another request.
    response.headers["Connection"] = "close"

    async def send_all_but_the_end(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            message = {**message, "more_body": True}
        await send(message)

    await response(scope, receive, send_all_but_the_end)
    await _linger(receive)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _linger(receive: Receive) -> None:
    drained = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_SECONDS):
            while drained < LINGER_MAX_BYTES:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return  # the client stopped, or went away
                drained += len(message.get("body", b""))
