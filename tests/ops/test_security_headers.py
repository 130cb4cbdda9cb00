"""SPEC §6: security headers on every response, a CSP on HTML pages, no `server` banner (see
test_forwarded_for.py for `ais serve`), and no SQL parameters in logged errors."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

COMMON = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY"}


def _assert_common(response) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (response.request.url, name, dict(response.headers))
    assert "server" not in response.headers
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def _directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health/live"),
        ("GET", "/openapi.json"),
        ("GET", "/api/v1/me"),  # 401 from a dependency
        ("GET", "/api/v1/no-such-route"),  # 404 from the router
        ("DELETE", "/health/live"),  # 405
        ("GET", "/api/v1/flights/search?from=RUH"),  # 422
        ("POST", "/webhooks/stripe"),  # 400 written by hand
    ],
)
async def test_every_api_answer_carries_the_headers_and_a_deny_all_policy(client, method, path):
    response = await client.request(method, path)
    _assert_common(response)
    assert _directives(response.headers["content-security-policy"])["default-src"] == ["'none'"]


async def test_a_413_from_the_body_limit_carries_them_too(client):
    response = await client.post("/api/v1/auth/login", content=b"x" * (65 * 1024),
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    _assert_common(response)


@pytest.mark.parametrize("path", ["/payments/success", "/payments/cancelled"])
async def test_payment_result_pages_have_a_page_policy(client, path):
    response = await client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    _assert_common(response)
    policy = _directives(response.headers["content-security-policy"])
    assert policy["script-src"] == ["'self'"]  # these pages run no inline script
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]


async def test_the_sandbox_checkout_keeps_its_own_stricter_policy(client):
    response = await client.get(f"/_sandbox/checkout/cs_test_{uuid.uuid4().hex}")
    for name, value in COMMON.items():
        assert response.headers.get(name) == value
    assert "content-security-policy" in response.headers


async def test_docs_run_only_same_origin_scripts_and_styles(client):
    """/docs serves Swagger UI and its start-up script as files of its own: the policy allows
    'self' and nothing inline (an inline script would need its hash listed here)."""
    response = await client.get("/docs")
    assert response.status_code == 200
    _assert_common(response)
    policy = _directives(response.headers["content-security-policy"])
    assert policy["script-src"] == ["'self'"] and "'self'" in policy["style-src"]
    assert re.findall(r"<script>(.*?)</script>", response.text, flags=re.S) == []
    assert re.findall(r'<script[^>]*src="/', response.text), "the docs page loads its scripts from the app"


async def test_sql_parameters_never_appear_in_database_errors(runtime):
    """What a failing statement raises is what a logged traceback (and Sentry) would show."""
    secret_agent = f"agent-{uuid.uuid4().hex}"
    async with runtime.engine.connect() as connection:
        await connection.execute(text("CREATE TEMPORARY TABLE hide_check (v VARCHAR(80) UNIQUE)"))
        await connection.execute(text("INSERT INTO hide_check (v) VALUES (:v)"), {"v": secret_agent})
        with pytest.raises(IntegrityError) as raised:
            await connection.execute(text("INSERT INTO hide_check (v) VALUES (:v)"), {"v": secret_agent})
        await connection.rollback()
    assert secret_agent not in str(raised.value)
    assert "hide_parameters" in str(raised.value)
