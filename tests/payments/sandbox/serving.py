"""Run an ASGI app on a real 127.0.0.1 socket in a background thread.

The stripe SDK's HTTPX client opens real connections (it accepts no custom transport), so
tests against the sandbox need a real server; a thread keeps it inside the test process.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def reserve_socket() -> tuple[socket.socket, str]:
    """A bound, not yet listening, socket on a free port, and the base URL that reaches it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def unused_url() -> str:
    """A URL on which nothing listens (connections are refused)."""
    sock, url = reserve_socket()
    sock.close()
    return url


@contextmanager
def serve(app: Any, sock: socket.socket) -> Iterator[None]:
    config = uvicorn.Config(app, log_level="warning", lifespan="on", loop="asyncio", http="h11",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.005)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
