"""Payment providers that misbehave, on real sockets: one that accepts connections and never
answers, one that answers a byte at a time forever, and a proxy to the sandbox that holds each
request until the test lets it through. Plus an AIS app whose gateway talks to one of them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx

from ais.app import create_app
from ais.config import Settings


@contextmanager
def silent_provider() -> Iterator[str]:
    """A server that accepts every connection and never says a word; yields its base URL."""
    with _listening() as (listener, url):
        held: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                except OSError:
                    continue
                held.append(connection)  # kept open, never read, never answered

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield url
        finally:
            stop.set()
            thread.join(2)
            for connection in held:
                connection.close()


@contextmanager
def trickling_provider(interval: float = 0.5) -> Iterator[str]:
    """A server that starts an HTTP answer and then sends one header byte every `interval`
    seconds, forever: no single read ever waits long enough to time out."""
    with _listening() as (listener, url):
        stop = threading.Event()

        def trickle(connection: socket.socket) -> None:
            with connection:
                try:
                    connection.recv(65536)
                    connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    while not stop.wait(interval):
                        connection.sendall(b"a")
                except OSError:
                    return

        def accept() -> None:
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                except OSError:
                    continue
                threading.Thread(target=trickle, args=(connection,), daemon=True).start()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield url
        finally:
            stop.set()
            thread.join(2)


@contextmanager
def _listening() -> Iterator[tuple[socket.socket, str]]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    try:
        yield listener, f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


class GatedProxy:
    """A TCP proxy to the live server that holds every connection until `release()`: the
    provider call is in flight for as long as the test wants."""

    def __init__(self, target_url: str) -> None:
        self._target_port = int(target_url.rsplit(":", 1)[1])
        self.arrived = asyncio.Event()
        self._gate = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> GatedProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        assert self._server is not None
        self._server.close()

    def release(self) -> None:
        self._gate.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.arrived.set()
        await self._gate.wait()
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@asynccontextmanager
async def app_with_provider(settings: Settings, stripe_api_base: str) -> AsyncIterator[httpx.AsyncClient]:
    """The AIS app (same database, same secrets) whose payment gateway talks to `stripe_api_base`."""
    app = create_app(settings.model_copy(update={"stripe_api_base": stripe_api_base}))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as client:
            yield client
    finally:
        await app.state.runtime.close()


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.started = time.monotonic()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.started
