"""SPEC §6: login per device, and one answer for every failed login."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from ais.identity.models import RefreshToken, TokenStatus
from tests.factories import PASSWORD, new_user
from tests.ops.contract import assert_error

LOGIN = "/api/v1/auth/login"


async def test_login_answers_a_token_pair(client, settings):
    user = await new_user(client)
    response = await client.post(LOGIN, json={"email": user.email, "password": PASSWORD, "deviceName": "iPhone"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"accessToken", "refreshToken", "expiresIn", "tokenType"}
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == settings.access_token_minutes * 60 == 900
    assert body["accessToken"].count(".") == 2
    assert len(body["refreshToken"]) >= 43  # 32 random bytes, url-safe base64
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.status_code == 200
    assert me.json()["id"] == user.id


async def test_each_login_opens_its_own_device_chain(client, runtime):
    user = await new_user(client, device_name="laptop")
    phone = await client.post(LOGIN, json={"email": user.email, "password": PASSWORD, "deviceName": "phone"})
    assert phone.status_code == 200, phone.text
    anonymous = await client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert anonymous.status_code == 200, anonymous.text

    async with runtime.session_factory() as session:
        rows = (await session.scalars(select(RefreshToken).where(RefreshToken.user_id == uuid.UUID(user.id)))).all()
    assert len(rows) == 3
    assert len({row.device_id for row in rows}) == 3
    assert sorted(row.device_name or "" for row in rows) == ["", "laptop", "phone"]
    assert all(row.status == TokenStatus.ACTIVE for row in rows)
    tokens = {user.refresh_token, phone.json()["refreshToken"], anonymous.json()["refreshToken"]}
    assert len(tokens) == 3


async def test_login_ignores_the_case_of_the_email(client):
    user = await new_user(client)
    response = await client.post(LOGIN, json={"email": user.email.upper(), "password": PASSWORD})
    assert response.status_code == 200, response.text


async def test_wrong_password_and_unknown_email_answer_exactly_alike(client):
    user = await new_user(client)
    wrong_password = await client.post(LOGIN, json={"email": user.email, "password": PASSWORD + "!"})
    unknown_email = await client.post(
        LOGIN, json={"email": f"nobody-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD}
    )
    wrong_case_password = await client.post(LOGIN, json={"email": user.email, "password": PASSWORD.upper()})

    bodies = []
    for response in (wrong_password, unknown_email, wrong_case_password):
        body = assert_error(response, 401, "UNAUTHORIZED")
        assert PASSWORD not in response.text and PASSWORD.upper() not in response.text
        assert user.email not in response.text
        bodies.append({key: value for key, value in body.items() if key != "correlationId"})
        assert set(response.headers) - {"content-length"} == set(wrong_password.headers) - {"content-length"}
    assert bodies[0] == bodies[1] == bodies[2]


async def test_a_failed_login_creates_no_refresh_token(client, runtime):
    user = await new_user(client)
    response = await client.post(LOGIN, json={"email": user.email, "password": "not the password at all"})
    assert_error(response, 401, "UNAUTHORIZED")

    async with runtime.session_factory() as session:
        rows = (await session.scalars(select(RefreshToken).where(RefreshToken.user_id == uuid.UUID(user.id)))).all()
    assert len(rows) == 1  # the factory's own login


async def test_login_validation_errors_never_echo_the_password(client):
    secret = "a secret that must not come back"
    for body in (
        {"email": "not an email", "password": secret},
        {"email": "x@example.com", "password": secret, "extra": secret},
        {"email": "x@example.com", "password": secret, "deviceName": "d" * 101},
        {"email": "x@example.com", "password": ""},
    ):
        response = await client.post(LOGIN, json=body)
        assert_error(response, 422, "VALIDATION_ERROR")
        assert secret not in response.text
