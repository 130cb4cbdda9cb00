"""SPEC §6: `X-Forwarded-For` is believed only from `FORWARDED_ALLOW_IPS` (empty by default, and
then not even from 127.0.0.1); rate limits and the audit log use the address it yields."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from ais.app import create_app
from ais.config import Settings
from ais.ops.proxy_headers import client_from_forwarded, parse_networks
from tests.factories import book, idempotency_key, new_flight, new_user
from tests.ops.contract import assert_error
from tests.payments.sandbox.serving import unused_url

PROXY = "10.0.0.5"
TRUSTED = "10.0.0.0/8, 2001:db8::/32"


@pytest.fixture(scope="module")
async def proxied_app(settings) -> AsyncIterator[FastAPI]:
    """The API behind a reverse proxy in 10.0.0.0/8."""
    app = create_app(settings.model_copy(update={"forwarded_allow_ips": TRUSTED}))
    yield app
    await app.state.runtime.close()  # its pool's connections count against the shared server's limit


async def _client(app: FastAPI, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60)


@pytest.fixture
async def via_proxy(proxied_app) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(proxied_app, PROXY) as http:
        yield http


async def _audited_ip(client: httpx.AsyncClient, runtime, *, forwarded_for: str | None) -> str | None:
    """Make an audited change (an admin deactivates a user) and return the IP it was logged with."""
    admin = await new_user(client, runtime, admin=True)
    user = await new_user(client)
    headers = {**admin.headers, **({"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {})}
    response = await client.patch(f"/api/v1/admin/users/{user.id}", json={"isActive": False}, headers=headers)
    assert response.status_code == 200, response.text
    log = await client.get("/api/v1/admin/audit-log", params={"resourceId": user.id}, headers=admin.headers)
    [entry] = log.json()["items"]
    return entry["ip"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("203.0.113.9, 10.0.0.7", "203.0.113.9"),  # our second proxy is skipped
        ("1.2.3.4, 203.0.113.9", "203.0.113.9"),  # the left part was written by the client
        ("2001:db8::1, 2001:DB8::2", "2001:db8::1"),  # every hop trusted: the left-most is the client
        ("not-an-ip, 10.0.0.7", "10.0.0.7"),  # garbage ends the walk at the last known proxy
        ("x" * 200, PROXY),
        ("203.0.113.9\x00", PROXY),
    ],
)
async def test_a_trusted_proxy_names_the_client(via_proxy, runtime, forwarded_for, client):
    assert await _audited_ip(via_proxy, runtime, forwarded_for=forwarded_for) == client


async def test_an_untrusted_peer_cannot_claim_another_address(proxied_app, runtime):
    async with await _client(proxied_app, "192.0.2.50") as stranger:
        assert await _audited_ip(stranger, runtime, forwarded_for="10.0.0.1, 203.0.113.9") == "192.0.2.50"


async def test_by_default_nobody_is_trusted_not_even_loopback(client, runtime):
    # The session app has FORWARDED_ALLOW_IPS empty; its test client connects from 127.0.0.1.
    assert await _audited_ip(client, runtime, forwarded_for="203.0.113.9") == "127.0.0.1"


async def test_whatever_the_server_calls_the_client_never_breaks_an_audited_cancel(app, runtime):
    """An address the server reports but that is no IP (here 100 characters) is not written as is:
    on PostgreSQL it overflowed the audit column and the cancel answered 500."""
    async with await _client(app, "x" * 100) as odd:
        user = await new_user(odd)
        booking = await book(odd, user, await new_flight(runtime))
        assert booking.status_code == 201, booking.text
        cancel = await odd.post(f"/api/v1/bookings/{booking.json()['id']}/cancel",
                                headers={**user.headers, **idempotency_key()})
        assert cancel.status_code == 200, cancel.text


def test_the_right_most_untrusted_hop_is_the_client():
    networks = parse_networks(TRUSTED)
    assert client_from_forwarded(PROXY, ["198.51.100.1, 203.0.113.9", "10.1.1.1"], networks) == "203.0.113.9"
    assert client_from_forwarded(PROXY, [], networks) == PROXY


def test_a_bad_entry_in_the_setting_is_refused_at_start_up():
    with pytest.raises(ValidationError, match=r"10\.0\.0\.300"):
        Settings(_env_file=None, forwarded_allow_ips="10.0.0.1, 10.0.0.300")  # type: ignore[call-arg]


# --- `ais serve` itself: uvicorn's own proxy handling (which trusts 127.0.0.1) is off ------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ais serve` as an operator starts it (embedded mode, its own SQLite), login limit 3 a minute."""
    url = unused_url()
    port = url.rsplit(":", 1)[1]
    data_dir: Path = tmp_path_factory.mktemp("served")
    env = {**os.environ, "AIS_DATA_DIR": str(data_dir), "LOGIN_RATE_LIMIT": "3", "RUN_JOBS_IN_PROCESS": "false",
           "LOG_LEVEL": "WARNING"}
    for name in ("DATABASE_URL", "REDIS_URL", "FORWARDED_ALLOW_IPS", "PUBLIC_BASE_URL"):
        env.pop(name, None)
    ais = Path(sys.executable).with_name("ais")
    process = subprocess.Popen([str(ais), "serve", "--host", "127.0.0.1", "--port", port, "--no-demo"],
                               cwd=data_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "ais serve did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(20)


def test_ais_serve_ignores_forwarded_for_from_loopback_so_the_login_limit_holds(served):
    answers = []
    for attempt in range(5):
        response = httpx.post(f"{served}/api/v1/auth/login",
                              json={"email": "victim@example.com", "password": f"guess-number-{attempt}"},
                              headers={"X-Forwarded-For": f"203.0.113.{attempt + 1}"}, timeout=30)
        answers.append(response.status_code)
    assert answers[:3] == [401, 401, 401]
    assert_error(response, 429, "RATE_LIMITED")


def test_ais_serve_sends_no_server_banner(served):
    response = httpx.get(f"{served}/health/live", timeout=10)
    assert response.status_code == 200
    assert "server" not in response.headers
