"""bench/wrk/load.lua against a small local HTTP server that records what it receives: every
request has a fresh Idempotency-Key, the tokens and bodies rotate, the -H headers stay, and the
results file has the statuses, error codes and latencies the server caused."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from harness.load import LoadSpec
from harness.wrk import run_wrk, wrk_binary

pytestmark = pytest.mark.skipif(wrk_binary() is None, reason="wrk is not installed")


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append({**{k.lower(): v for k, v in self.headers.items()}, "body": body.decode()})
        if len(self.seen) % 10 == 0:
            answer, status = json.dumps({"code": "SEATS_UNAVAILABLE", "message": "sold out"}).encode(), 409
        else:
            answer, status = b'{"id": "b"}', 201
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


def test_every_request_is_unique_and_counted(server: ThreadingHTTPServer) -> None:
    port = server.server_address[1]
    spec = LoadSpec(kind="http", client="wrk", clients=4, base_url=f"http://127.0.0.1:{port}", method="POST",
                    path="/api/v1/bookings", bodies=[b'{"n": 1}', b'{"n": 2}'], tokens=["tok-a", "tok-b", "tok-c"],
                    idempotency=True, headers={"X-Bench": "yes"})
    result = asyncio.run(run_wrk(spec, 1.0))
    seen = Recorder.seen
    assert len(seen) > 20
    keys = [request["idempotency-key"] for request in seen]
    assert len(set(keys)) == len(keys)
    assert all(len(key) == 36 and key.count("-") == 4 for key in keys)
    tokens = Counter(request["authorization"] for request in seen)
    assert set(tokens) == {"Bearer tok-a", "Bearer tok-b", "Bearer tok-c"}
    assert {request["body"] for request in seen} == {'{"n": 1}', '{"n": 2}'}
    assert all(request["x-bench"] == "yes" and request["content-type"] == "application/json" for request in seen)
    # wrk counts what completed inside its window; the server may have seen a last few more.
    assert 0 < result.requests <= len(seen)
    assert result.statuses["409"] == result.codes["SEATS_UNAVAILABLE"] > 0
    assert result.ok == result.statuses["201"] > 0
    assert len(result.latencies) == result.requests
