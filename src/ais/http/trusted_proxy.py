"""Believe `X-Forwarded-For` / `X-Forwarded-Proto` only from the trusted proxies (SPEC §6): the
request's client and scheme are rewritten before anything reads them. The address rules are
`ais.ops.proxy_headers`."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from ais.ops.proxy_headers import Network, client_from_forwarded, is_trusted, valid_address


class TrustedProxyMiddleware:
    def __init__(self, app: ASGIApp, *, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted:
            client = scope.get("client")
            peer = valid_address(client[0]) if client else None
            if peer is not None and is_trusted(peer, self.trusted):
                scope = self._as_forwarded(scope, peer)
        await self.app(scope, receive, send)

    def _as_forwarded(self, scope: Scope, peer: str) -> Scope:
        headers = scope["headers"]
        forwarded = [value.decode("latin-1") for name, value in headers if name == b"x-forwarded-for"]
        protos = [value.decode("latin-1") for name, value in headers if name == b"x-forwarded-proto"]
        scope = dict(scope)
        if forwarded:
            scope["client"] = (client_from_forwarded(peer, forwarded, self.trusted), 0)
        # The scheme the nearest proxy was reached with (it appends last).
        proto = protos[-1].split(",")[-1].strip().lower() if protos else None
        if proto in ("http", "https"):
            scope["scheme"] = proto
        return scope
