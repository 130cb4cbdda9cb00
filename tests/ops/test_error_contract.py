"""SPEC §7: every non-2xx answer is `{code, message, correlationId, retryable, details}` and every
response carries X-Correlation-Id — the framework's own errors and crashes included."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from ais.app import create_app
from ais.http.dependencies import SessionDep
from ais.ops.correlation import accept_or_generate
from tests.ops.contract import assert_error

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


async def test_an_unknown_path_is_a_contract_404(client):
    response = await client.get("/api/v1/no-such-thing")
    body = assert_error(response, 404, "NOT_FOUND")
    assert "no-such-thing" not in body["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/api/v1/auth/login"), ("GET", "/api/v1/auth/register"), ("PUT", "/health/live"),
     ("PATCH", "/api/v1/me")],
)
async def test_a_wrong_method_is_a_contract_405(client, method, path):
    response = await client.request(method, path)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers.get("Allow")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"email": "a@example.com", "password": ', "application/json"),  # truncated
        (b"\xff\xfe not utf-8", "application/json"),
        (b"", "application/json"),
        (b"null", "application/json"),
        (b'{"email": "a@example.com"} trailing', "application/json"),
        (b"email=a@example.com&password=x", "application/x-www-form-urlencoded"),
        (b'{"email": "a@example.com", "password": "long enough pass"}', "text/plain"),
        (b"[" * 10000 + b"]" * 10000, "application/json"),  # deeply nested
    ],
)
async def test_a_malformed_body_is_a_contract_422(client, content, content_type):
    response = await client.post("/api/v1/auth/login", content=content, headers={"Content-Type": content_type})
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_wrong_types_are_a_contract_422_naming_each_field(client):
    response = await client.post(
        "/api/v1/auth/login", json={"email": ["a@example.com"], "password": {"$ne": None}, "deviceName": 7}
    )
    body = assert_error(response, 422, "VALIDATION_ERROR")
    fields = {error["field"] for error in body["details"]["errors"]}
    assert fields == {"body.email", "body.password", "body.deviceName"}
    assert "$ne" not in response.text
    for error in body["details"]["errors"]:
        assert set(error) == {"field", "message", "type"}


async def test_an_authentication_error_keeps_the_contract(client):
    assert_error(await client.get("/api/v1/me"), 401, "UNAUTHORIZED")


# --- correlation ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/health/live"), ("GET", "/health/ready"), ("GET", "/openapi.json"), ("GET", "/nowhere"),
     ("GET", "/api/v1/me"), ("POST", "/api/v1/auth/login"), ("DELETE", "/health/live")],
)
async def test_every_response_carries_a_generated_correlation_id(client, method, path):
    first = await client.request(method, path)
    second = await client.request(method, path)
    assert GENERATED_ID.fullmatch(first.headers["X-Correlation-Id"])
    assert first.headers["X-Correlation-Id"] != second.headers["X-Correlation-Id"]
    assert len(first.headers.get_list("X-Correlation-Id")) == 1


@pytest.mark.parametrize("sent", ["abc-123", "req:2026.11.25_01", "A" * 128, "5f0c2a8e-4b0d-4f7e-9d8c-1b2a3f4e5d6c"])
async def test_a_sane_correlation_id_is_echoed_in_header_and_error_body(client, sent):
    ok = await client.get("/health/live", headers={"X-Correlation-Id": sent})
    assert ok.headers["X-Correlation-Id"] == sent

    error = await client.get("/api/v1/me", headers={"X-Correlation-Id": sent})
    body = assert_error(error, 401, "UNAUTHORIZED")
    assert body["correlationId"] == sent == error.headers["X-Correlation-Id"]


@pytest.mark.parametrize(
    "sent",
    [
        "A" * 129,
        "x" * 500,
        "abc\n",
        "abc\r\nSet-Cookie: session=stolen",
        "two words",
        '{"json": true}',
        "<script>alert(1)</script>",
        "id\x00null",
        b"caf\xe9",
        "",
    ],
)
async def test_a_garbage_correlation_id_is_replaced(client, sent):
    response = await client.get("/api/v1/me", headers={"X-Correlation-Id": sent})
    body = assert_error(response, 401, "UNAUTHORIZED")
    assert GENERATED_ID.fullmatch(response.headers["X-Correlation-Id"])
    assert body["correlationId"] == response.headers["X-Correlation-Id"]
    assert "Set-Cookie" not in response.headers


def test_accept_or_generate_allows_only_a_whole_safe_token():
    assert accept_or_generate("abc-123") == "abc-123"
    for garbage in ("abc\n", "\nabc", "abc\r", "a" * 129, "a b", None, ""):
        assert GENERATED_ID.fullmatch(accept_or_generate(garbage))


# --- crashes -----------------------------------------------------------------------------------

SECRET_TEXT = "password=hunter2 at /srv/ais/secret.py SELECT * FROM users"


@pytest.fixture(scope="module")
async def crashing_app(settings) -> AsyncIterator[FastAPI]:
    """The real app plus throwaway routes that fail the ways production code can."""
    app = create_app(settings)

    @app.get("/_test/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET_TEXT)

    @app.get("/_test/bad-sql")
    async def bad_sql(session: SessionDep) -> None:
        await session.execute(text("SELECT no_such_column FROM users WHERE email = 'hunter2'"))

    @app.get("/_test/connection-lost")
    async def connection_lost() -> None:
        raise ConnectionResetError("connection to 10.0.0.5:5432 reset")

    @app.get("/_test/sync-boom")
    def sync_boom() -> None:
        raise KeyError(SECRET_TEXT)

    yield app
    await app.state.runtime.close()


@pytest.fixture
async def crashing_client(crashing_app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=crashing_app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.parametrize("path", ["/_test/boom", "/_test/bad-sql", "/_test/sync-boom"])
async def test_an_unexpected_exception_is_a_contract_500_without_details(crashing_client, path):
    response = await crashing_client.get(path, headers={"X-Correlation-Id": "crash-1"})

    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert body["correlationId"] == "crash-1"
    assert body["details"] == {}
    for leak in ("hunter2", "Traceback", "RuntimeError", "KeyError", "secret.py", "SELECT", "no_such_column",
                 "File \""):
        assert leak not in response.text


async def test_a_lost_connection_is_retryable_503(crashing_client):
    response = await crashing_client.get("/_test/connection-lost")
    body = assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert "10.0.0.5" not in response.text
    assert body["retryable"] is True
    assert response.headers["Retry-After"]


async def test_the_app_still_serves_after_a_crash(crashing_client):
    await crashing_client.get("/_test/boom")
    assert (await crashing_client.get("/health/live")).status_code == 200
