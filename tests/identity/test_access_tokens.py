"""SPEC §6: access tokens — /me needs one, expired ones say so, forged ones are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from ais.identity.security import JWT_ISSUER, issue_access_token
from tests.factories import new_user
from tests.ops.contract import assert_error

ME = "/api/v1/me"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def craft(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


def hs256(header: dict[str, Any], claims: dict[str, Any], key: str) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def claims_for(user_id: str, *, role: str = "passenger", minutes: int = 15, **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "sub": user_id, "role": role, "typ": "access", "iss": JWT_ISSUER,
        "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=minutes)).timestamp()),
        "jti": secrets.token_hex(8), **extra,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def user(client):
    """One user for the whole module: these tests only read, and argon2 makes users dear."""
    return await new_user(client)


async def test_me_answers_the_current_user(client, user):
    response = await client.get(ME, headers=user.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == user.id and body["email"] == user.email
    assert set(body) == {"id", "email", "fullName", "role", "createdAt"}
    assert "passwordHash" not in response.text and "password" not in response.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token abc"},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Bearer " + "a" * 5000},
    ],
)
async def test_me_needs_a_bearer_token(client, headers):
    assert_error(await client.get(ME, headers=headers), 401, "UNAUTHORIZED")


async def test_a_valid_token_in_a_query_or_cookie_is_not_a_bearer_token(client, user):
    assert_error(await client.get(ME, params={"access_token": user.access_token}), 401, "UNAUTHORIZED")
    assert_error(await client.get(ME, cookies={"access_token": user.access_token}), 401, "UNAUTHORIZED")


async def test_an_expired_access_token_answers_token_expired(client, settings, user):
    token = issue_access_token(user_id=uuid.UUID(user.id), role="passenger", version=0, secret=settings.jwt_secret,
                               minutes=-1)

    body = assert_error(await client.get(ME, headers=bearer(token)), 401, "TOKEN_EXPIRED")
    assert body["retryable"] is False
    # Every authenticated route says the same, so a client knows to refresh rather than re-login.
    assert_error(await client.get("/api/v1/bookings", headers=bearer(token)), 401, "TOKEN_EXPIRED")


async def test_an_expired_token_with_a_bad_signature_is_just_unauthorized(client, user):
    """Only a token we signed may learn that it expired."""
    token = issue_access_token(
        user_id=uuid.UUID(user.id), role="passenger", version=0, secret="another secret " * 4, minutes=-1
    )
    assert_error(await client.get(ME, headers=bearer(token)), 401, "UNAUTHORIZED")


async def test_a_token_signed_with_the_real_secret_and_the_right_claims_works(client, settings, user):
    """The control for the forgeries below: the crafting helpers themselves are right."""
    token = hs256({"alg": "HS256", "typ": "JWT"}, claims_for(user.id), settings.jwt_secret)
    assert (await client.get(ME, headers=bearer(token))).status_code == 200


def _forgeries(user_id: str, secret: str) -> dict[str, str]:
    good = claims_for(user_id, role="admin")
    return {
        "alg none": craft({"alg": "none", "typ": "JWT"}, good),
        "alg None": craft({"alg": "None", "typ": "JWT"}, good),
        "alg NONE with a signature": craft({"alg": "NONE"}, good, b"x"),
        "HS384 with the real secret": jwt.encode(good, secret, algorithm="HS384"),
        "HS512 with the real secret": jwt.encode(good, secret, algorithm="HS512"),
        "RS256 header": craft({"alg": "RS256", "typ": "JWT"}, good, secrets.token_bytes(256)),
        "ES256 header": craft({"alg": "ES256", "typ": "JWT"}, good, secrets.token_bytes(64)),
        "lower-case hs256": hs256({"alg": "hs256"}, good, secret),
        "another secret": jwt.encode(good, "another secret that is long enough!!", algorithm="HS256"),
        "empty secret": hs256({"alg": "HS256"}, good, ""),
        "signature stripped": jwt.encode(good, secret, algorithm="HS256").rsplit(".", 1)[0] + ".",
        "claims swapped": _swap_claims(jwt.encode(claims_for(user_id), secret, algorithm="HS256"), good),
        "wrong issuer": jwt.encode(claims_for(user_id, iss="someone-else"), secret, algorithm="HS256"),
        "not an access token": jwt.encode(claims_for(user_id, typ="refresh"), secret, algorithm="HS256"),
        "no typ": jwt.encode({k: v for k, v in good.items() if k != "typ"}, secret, algorithm="HS256"),
        "no exp": jwt.encode({k: v for k, v in good.items() if k != "exp"}, secret, algorithm="HS256"),
        "sub not a uuid": jwt.encode(claims_for("1 OR 1=1"), secret, algorithm="HS256"),
        "sub a number": jwt.encode({**good, "sub": 7}, secret, algorithm="HS256"),
        "not yet valid": jwt.encode({**good, "nbf": good["iat"] + 3600}, secret, algorithm="HS256"),
        "kid pointing elsewhere": jwt.encode(good, "x" * 40, algorithm="HS256", headers={"kid": "../../dev/null"}),
    }


def _swap_claims(token: str, claims: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


@pytest.mark.parametrize("name", list(_forgeries(str(uuid.uuid4()), "s" * 64)))
async def test_forged_tokens_are_unauthorized(client, settings, user, name):
    token = _forgeries(user.id, settings.jwt_secret)[name]

    for path in (ME, "/api/v1/admin/bookings", "/api/v1/bookings"):
        assert_error(await client.get(path, headers=bearer(token)), 401, "UNAUTHORIZED")
