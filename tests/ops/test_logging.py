"""SPEC §6/§10: one JSON line per event, carrying the correlation id; no password or token in any line."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ais.ops.logging import configure_logging
from tests.factories import PASSWORD, new_user


@pytest.fixture
def info_logs(settings) -> Iterator[None]:
    configure_logging("INFO")
    try:
        yield
    finally:
        configure_logging(settings.log_level)


def json_lines(output: str) -> list[dict]:
    lines = [line for line in output.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON log line: {line!r}")
    return parsed


async def test_auth_logs_carry_the_correlation_id_and_no_secret(client, settings, capsys, info_logs):
    user = await new_user(client)
    capsys.readouterr()

    login = await client.post(
        "/api/v1/auth/login",
        json={"email": user.email, "password": PASSWORD, "deviceName": "log-test"},
        headers={"X-Correlation-Id": "log-test-login"},
    )
    assert login.status_code == 200, login.text
    pair = login.json()
    failed = await client.post(
        "/api/v1/auth/login",
        json={"email": user.email, "password": "the wrong one, logged nowhere"},
        headers={"X-Correlation-Id": "log-test-failed"},
    )
    assert failed.status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]},
        headers={"X-Correlation-Id": "log-test-refresh"},
    )
    assert refreshed.status_code == 200
    reuse = await client.post(
        "/api/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]},
        headers={"X-Correlation-Id": "log-test-reuse"},
    )
    assert reuse.status_code == 401

    output = capsys.readouterr().out
    lines = json_lines(output)
    by_id = {}
    for line in lines:
        assert "correlation_id" in line, line
        by_id.setdefault(line["correlation_id"], []).append(line)
    assert {"log-test-login", "log-test-failed", "log-test-refresh", "log-test-reuse"} <= set(by_id)
    assert {line["event"] for line in by_id["log-test-login"]} >= {"login", "request"}
    assert {line["event"] for line in by_id["log-test-failed"]} >= {"login_failed", "request"}
    assert {line["event"] for line in by_id["log-test-reuse"]} >= {"refresh_token_reuse", "request"}
    access_line = next(line for line in by_id["log-test-login"] if line["event"] == "request")
    assert access_line["status"] == 200 and access_line["route"] == "/api/v1/auth/login"
    for line in lines:
        assert {"level", "timestamp", "event"} <= set(line)

    secrets = [
        PASSWORD, "the wrong one, logged nowhere", pair["accessToken"], pair["refreshToken"],
        refreshed.json()["accessToken"], refreshed.json()["refreshToken"], settings.jwt_secret,
        settings.refresh_token_pepper,
    ]
    for secret in secrets:
        assert secret not in output
    # Not even the signature part of a token (the part that makes it usable).
    assert pair["accessToken"].rsplit(".", 1)[1] not in output


async def test_a_crash_is_logged_with_its_correlation_id(settings, capsys, info_logs):
    import httpx
    from fastapi import FastAPI

    from ais.app import create_app

    app: FastAPI = create_app(settings)
    configure_logging("INFO")  # create_app configured the settings' level again

    @app.get("/_test/crash")
    async def crash() -> None:
        raise RuntimeError("kaboom")

    capsys.readouterr()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.get("/_test/crash", headers={"X-Correlation-Id": "log-test-crash"})
    finally:
        await app.state.runtime.close()
    assert response.status_code == 500

    lines = json_lines(capsys.readouterr().out)
    crash_lines = [line for line in lines if line.get("event") == "unhandled_exception"]
    assert len(crash_lines) == 1
    assert crash_lines[0]["correlation_id"] == "log-test-crash"
    assert crash_lines[0]["level"] == "error"
    assert "RuntimeError: kaboom" in crash_lines[0]["exception"]  # the log keeps what the body hides
