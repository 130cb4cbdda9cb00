"""The listening address of a server run as several worker processes (`ais serve --workers N`,
`ais sandbox --workers N`), spread evenly over them.

uvicorn's supervisor binds one socket and hands it to every worker, so all workers accept from one
queue: whichever is free first accepts a whole burst of new connections. Clients that keep their
connections (a reverse proxy, a load balancer, a mobile app's HTTP client, a load generator) then
stay on that worker for good, and one process saturates its core while the others idle (measured:
a webhook storm over 16 connections to `--workers 2` ran on one worker, 0.97 of 2 cores).

On Linux each worker therefore listens on a socket of its own, bound to the same address with
`SO_REUSEPORT`: the kernel then gives each new connection to one of the workers' queues by a hash
of its addresses, so connections spread evenly whoever is awake. The supervisor's socket only
holds the address (it never listens, so it is given no connection). The price: connections still
waiting in a worker's queue when that worker stops are reset (`net.ipv4.tcp_migrate_req=1`, Linux
5.14+, hands them to another worker instead). Elsewhere (no balancing SO_REUSEPORT), or with one
worker, the one shared socket stays."""

from __future__ import annotations

import socket
import sys
from typing import Any


def bind_listener(host: str, port: int, *, workers: int) -> socket.socket:
    """A socket bound to host:port for uvicorn (`Server.run(sockets=…)` or its `Multiprocess`
    supervisor), not listening yet. With `workers` > 1 on Linux, each worker process it is handed
    to binds its own socket to the same address. Raises OSError (EADDRINUSE: the port is taken)."""
    per_worker = workers > 1 and spreads_connections()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = _bound(_PerWorkerListener if per_worker else socket.socket, family, (host, port), reuse_port=per_worker)
    sock.set_inheritable(True)
    return sock


def spreads_connections() -> bool:
    """Whether the kernel balances connections over sockets sharing a port (Linux's SO_REUSEPORT;
    BSD and macOS accept the option but give every connection to one socket)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _bound(
    kind: type[socket.socket], family: socket.AddressFamily, address: tuple[Any, ...], *, reuse_port: bool
) -> socket.socket:
    sock = kind(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


class _PerWorkerListener(socket.socket):
    """The supervisor's socket. Handing it to a worker process (which pickles it) gives the worker
    a socket of its own, bound to the same address with SO_REUSEPORT, instead of a copy of this one."""

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, tuple[Any, ...]]:
        return _worker_socket, (self.family, self.getsockname())


def _worker_socket(family: socket.AddressFamily, address: tuple[Any, ...]) -> socket.socket:
    return _bound(socket.socket, family, address, reuse_port=True)
