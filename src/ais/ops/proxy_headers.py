"""The client's address behind a reverse proxy (SPEC §6).

`X-Forwarded-For` is believed only when the connection comes from an address in
`FORWARDED_ALLOW_IPS`; by default nobody is trusted, loopback included (uvicorn's own handling,
which trusts 127.0.0.1, is switched off in `ais serve`). Done here rather than in the server so
it holds under any ASGI server. Rate limits and the audit log then read `request.client`.
This module is the address logic (also used by the settings and the audit log); the middleware
that applies it to each request is `ais.http.trusted_proxy`.

The header is read from the right: each trusted proxy appends the address it received the
request from, so the right-most address that is not one of our proxies is the client; anything
to its left was written by the client and proves nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

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


def is_trusted(address: str | None, networks: Sequence[Network]) -> bool:
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
        if not is_trusted(address, networks):
            break
    return client
