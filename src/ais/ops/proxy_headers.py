"""The client's address behind a reverse proxy (SPEC §6).

`X-Forwarded-For` is believed only when the connection comes from an address in
`FORWARDED_ALLOW_IPS`; by default nobody is trusted, loopback included (uvicorn's own handling,
which trusts 127.0.0.1, is switched off in `ais serve`). Done here rather than in the server so
it holds under any ASGI server. Rate limits and the audit log then read `request.client`.

The header is read from the right: each trusted proxy appends the address it received the
request from, so the right-most address that is not one of our proxies is the client; anything
to its left was written by the client and proves nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_ADDRESS_LENGTH = 64  # the audit log's column; a valid address is far shorter


def parse_networks(text: str) -> tuple[Network, ...]:
    """"10.0.0.1, 10.1.0.0/16, ::1" → networks; ValueError naming the entry that is neither."""
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is neither an IP address nor a CIDR block") from None
    return tuple(networks)


def valid_address(text: str | None) -> str | None:
    """`text` as a normalised IP address, or None when it is not one (never longer than 64)."""
    if not text or len(text) > MAX_ADDRESS_LENGTH:
        return None
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def _trusted(address: str | None, networks: Sequence[Network]) -> bool:
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in networks)


def client_from_forwarded(peer: str, forwarded_for: Iterable[str], networks: Sequence[Network]) -> str:
    """The right-most hop that is not a trusted proxy. Walking left stops at an entry that is not
    an address: the hop to its right (a trusted proxy) is then the best we know."""
    client = peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = valid_address(hop)
        if address is None:
            break
        client = address
        if not _trusted(address, networks):
            break
    return client


class TrustedProxyMiddleware:
    def __init__(self, app: ASGIApp, *, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted:
            client = scope.get("client")
            peer = valid_address(client[0]) if client else None
            if peer is not None and _trusted(peer, self.trusted):
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
