"""SPEC §6/§7: login and refresh are rate limited — 429 RATE_LIMITED with Retry-After."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from ais.app import create_app
from tests.factories import PASSWORD, login, new_user
from tests.ops.contract import assert_error

WINDOW_SECONDS = 60


@asynccontextmanager
async def own_app(settings, **limits: int) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """An app of its own with the given limits (settings), reached from an address no other test
    uses (the counters may live in a Redis shared with the rest of the suite)."""
    app = create_app(settings.model_copy(update=limits))
    address = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    # Counters are per fixed minute: start well inside one so the test never straddles two.
    if time.time() % WINDOW_SECONDS > WINDOW_SECONDS - 8:
        await asyncio.sleep(WINDOW_SECONDS - time.time() % WINDOW_SECONDS + 0.1)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        await app.state.runtime.close()


@pytest.fixture
async def limited(settings) -> AsyncIterator[httpx.AsyncClient]:
    """Tight limits: 3 logins per e-mail, 5 per address, 4 registrations per address."""
    async with own_app(settings, login_rate_limit=3, login_rate_limit_per_ip=5, register_rate_limit_per_ip=4) as http:
        yield http


def assert_rate_limited(response: httpx.Response) -> None:
    body = assert_error(response, 429, "RATE_LIMITED")
    assert body["retryable"] is True
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW_SECONDS
    assert body["details"] == {"retryAfterSeconds": retry_after}


async def test_login_is_limited_per_email_even_for_the_right_password(limited):
    user = await new_user(limited)  # the factory's login is the first of 3 allowed
    for _ in range(2):
        wrong = await limited.post("/api/v1/auth/login", json={"email": user.email, "password": "wrong password!"})
        assert_error(wrong, 401, "UNAUTHORIZED")

    blocked = await limited.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})

    assert_rate_limited(blocked)
    assert PASSWORD not in blocked.text and user.email not in blocked.text
    # Another account from the same address is not locked out by the first one's guesses.
    other = await new_user(limited)
    assert other.access_token


async def test_login_is_limited_per_address_across_emails(limited):
    statuses = []
    for _ in range(6):
        response = await limited.post(
            "/api/v1/auth/login",
            json={"email": f"spray-{secrets.token_hex(4)}@example.com", "password": "guess guess guess"},
        )
        statuses.append(response.status_code)
        last = response
    assert statuses == [401] * 5 + [429]
    assert_rate_limited(last)


async def test_refresh_is_limited_per_address(limited):
    user = await new_user(limited)
    token = user.refresh_token
    for _ in range(5):
        response = await limited.post("/api/v1/auth/refresh", json={"refreshToken": token})
        assert response.status_code == 200, response.text
        token = response.json()["refreshToken"]

    blocked = await limited.post("/api/v1/auth/refresh", json={"refreshToken": token})

    assert_rate_limited(blocked)
    assert token not in blocked.text


async def test_the_login_limit_is_the_setting_right_passwords_included(settings):
    """LOGIN_RATE_LIMIT is what counts: at 5 (the suite's shared app raises it so that other tests
    log in freely) five logins with the right password pass and the sixth is refused, and an
    address limit far above it plays no part."""
    async with own_app(settings, login_rate_limit=5, login_rate_limit_per_ip=1000) as http:
        user = await new_user(http)  # the factory's login is the first of the 5
        for _ in range(4):
            await login(http, user.email)

        blocked = await http.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})

    assert_rate_limited(blocked)


async def test_registration_is_limited_per_address(limited):
    """Each registration costs an argon2 hash: an address may not burn the CPU with them."""
    statuses = []
    for i in range(6):
        response = await limited.post("/api/v1/auth/register", json={
            "email": f"burst-{secrets.token_hex(4)}-{i}@example.com", "password": PASSWORD, "fullName": "Burst"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert_rate_limited(response)
    assert statuses[:4] == [201] * 4
    assert statuses[4:] == [429, 429]
