"""SPEC §6: request bodies are capped — 1 MiB by default, 64 KiB on the auth routes — with 413
PAYLOAD_TOO_LARGE in the contract shape, decided before the body is read whole."""

from __future__ import annotations

import json
import resource
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ais.app import create_app
from tests.factories import new_user
from tests.ops.contract import assert_error
from tests.payments.sandbox.serving import reserve_socket, serve

MIB = 1024 * 1024
HUGE = 200 * MIB


def _login_body(size: int) -> bytes:
    """A syntactically valid login body of exactly `size` bytes (the padding is the password)."""
    empty = len(json.dumps({"email": "a@example.com", "password": ""}).encode())
    return json.dumps({"email": "a@example.com", "password": "x" * (size - empty)}).encode()


async def test_an_auth_body_over_64_kib_is_refused(client):
    response = await client.post("/api/v1/auth/login", content=_login_body(64 * 1024 + 1),
                                  headers={"Content-Type": "application/json"})
    body = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert body["details"] == {"limitBytes": 64 * 1024}


async def test_an_auth_body_of_64_kib_is_read(client):
    response = await client.post("/api/v1/auth/login", content=_login_body(64 * 1024),
                                 headers={"Content-Type": "application/json"})
    # Read and judged on its merits: the password field is simply too long for the schema.
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_other_routes_take_up_to_1_mib(client):
    user = await new_user(client)
    padding = {"flightId": "x" * (MIB - 200)}
    small_enough = await client.post("/api/v1/bookings", json=padding,
                                     headers={**user.headers, "Idempotency-Key": "k-small"})
    assert small_enough.status_code != 413, small_enough.text
    too_big = await client.post("/api/v1/bookings", json={"flightId": "x" * MIB},
                                headers={**user.headers, "Idempotency-Key": "k-big"})
    assert_error(too_big, 413, "PAYLOAD_TOO_LARGE")


async def test_a_chunked_body_without_length_is_counted(client):
    async def chunks():
        for _ in range(100):
            yield b"x" * 1024

    response = await client.post("/api/v1/auth/register", content=chunks(),
                                 headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


# --- against a live server: nothing of a huge body is buffered --------------------------------


@pytest.fixture(scope="module")
def live_url(settings) -> Iterator[str]:
    sock, url = reserve_socket()
    app = create_app(settings)
    with serve(app, sock):
        yield url


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=10)
    connection.setblocking(False)
    return connection


def _read_answer(connection: socket.socket, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline:
        readable, _, _ = select.select([connection], [], [], 0.05)
        if not readable:
            if data:
                break
            continue
        try:
            chunk = connection.recv(65536)
        except (BlockingIOError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return data


def _rss_mib() -> float:
    """This process's resident memory now (the live server runs in a thread of it)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / MIB


def test_a_declared_200_mb_body_is_refused_before_any_of_it_is_sent(live_url):
    connection = _connect(live_url)
    head = (f"POST /api/v1/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"Content-Length: {HUGE}\r\n\r\n").encode()
    connection.sendall(head)

    answer = _read_answer(connection, time.monotonic() + 5)
    connection.close()

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b'"code":"PAYLOAD_TOO_LARGE"' in rest


def test_a_streamed_200_mb_body_is_cut_off_early_and_never_buffered(live_url):
    """Streamed from a generator without a length, as an attacker would: the server answers long
    before the end, and neither it (in this process) nor anything else holds the body."""
    rss_before = peak = _rss_mib()
    connection = _connect(live_url)
    connection.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    pending = memoryview(frame)
    answer = b""
    deadline = time.monotonic() + 60
    while sent < HUGE and time.monotonic() < deadline:
        readable, writable, _ = select.select([connection], [connection], [], 0.05)
        if readable:
            answer = _read_answer(connection, time.monotonic() + 5)
            break
        if writable:
            try:
                count = connection.send(pending)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += count
            pending = pending[count:] or memoryview(frame)
            peak = max(peak, _rss_mib())
    connection.close()

    assert answer.startswith(b"HTTP/1.1 413"), (sent, answer[:300])
    assert b'"code":"PAYLOAD_TOO_LARGE"' in answer
    # Refused after the first 64 KiB plus what sat in socket buffers — nowhere near 200 MB.
    assert sent < 16 * MIB, sent
    assert peak - rss_before < 64, f"memory grew by {peak - rss_before:.0f} MiB: the body was buffered"
