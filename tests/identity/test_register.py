"""SPEC §6/§7: registration — the 201 user, duplicate e-mails, weak input, and how it is stored."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from ais.identity.models import User
from tests.factories import PASSWORD
from tests.ops.contract import assert_error

REGISTER = "/api/v1/auth/register"


def _email() -> str:
    return f"reg-{uuid.uuid4().hex[:12]}@example.com"


async def test_register_answers_201_with_the_camel_case_user(client):
    email = _email()
    response = await client.post(REGISTER, json={"email": email, "password": PASSWORD, "fullName": "Layla Haddad"})

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "email", "fullName", "role", "createdAt"}
    assert body["email"] == email
    assert body["fullName"] == "Layla Haddad"
    assert body["role"] == "passenger"
    uuid.UUID(body["id"])
    assert body["createdAt"].endswith(("Z", "+00:00"))
    assert PASSWORD not in response.text
    assert response.headers["X-Correlation-Id"]


async def test_register_cannot_choose_its_own_role(client):
    response = await client.post(
        REGISTER, json={"email": _email(), "password": PASSWORD, "fullName": "Mallory", "role": "admin"}
    )
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert body["details"]["errors"][0]["field"] == "body.role"


async def test_a_duplicate_email_is_a_contract_error_whatever_its_case(client):
    email = _email()
    first = await client.post(REGISTER, json={"email": email, "password": PASSWORD, "fullName": "First"})
    assert first.status_code == 201, first.text

    for again in (email, email.upper(), email.capitalize()):
        response = await client.post(REGISTER, json={"email": again, "password": PASSWORD, "fullName": "Second"})
        body = assert_error(response, 422, "VALIDATION_ERROR")
        assert [error["field"] for error in body["details"]["errors"]] == ["email"]
        assert PASSWORD not in response.text


async def test_two_simultaneous_registrations_of_one_email_create_one_user(client, runtime):
    email = _email()
    responses = await asyncio.gather(
        *(client.post(REGISTER, json={"email": email, "password": PASSWORD, "fullName": f"Racer {i}"})
          for i in range(3))
    )

    assert sorted(r.status_code for r in responses) == [201, 422, 422], [r.text for r in responses]
    for response in responses:
        if response.status_code == 422:
            assert_error(response, 422, "VALIDATION_ERROR")
    async with runtime.session_factory() as session:
        users = (await session.scalars(select(User).where(User.email == email))).all()
    assert len(users) == 1


@pytest.mark.parametrize(
    "password",
    [
        "short1!",  # under 10 characters
        "123456789",  # 9 characters
        "aaaaaaaaaaaa",  # long enough, one character
        "1234567890",  # long enough, a sequence anyone guesses first
        "password123",  # long enough, the most common password there is
        " " * 12,  # only blanks
    ],
)
async def test_a_weak_or_short_password_is_refused_and_never_echoed(client, password):
    response = await client.post(
        REGISTER, json={"email": _email(), "password": password, "fullName": "Weak Password"}
    )

    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert [error["field"] for error in body["details"]["errors"]] == ["body.password"]
    if password.strip():
        assert password not in response.text


@pytest.mark.parametrize(
    "email", ["not-an-email", "a@", "@example.com", "two@@example.com", "a b@example.com", "", "x" * 300 + "@e.com"]
)
async def test_a_bad_email_is_refused_without_echoing_the_password(client, email):
    secret = "my very secret passphrase 42"
    response = await client.post(REGISTER, json={"email": email, "password": secret, "fullName": "Bad Email"})

    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert [error["field"] for error in body["details"]["errors"]] == ["body.email"]
    assert secret not in response.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fullName", ""),
        ("fullName", "   "),
        ("fullName", "x" * 201),
        ("fullName", "Null\x00Byte"),
        ("password", "a long passphrase with a \x00 in it"),
    ],
)
async def test_unstorable_or_empty_text_is_a_validation_error_not_a_crash(client, field, value):
    body = {"email": _email(), "password": PASSWORD, "fullName": "Fine Name", field: value}
    response = await client.post(REGISTER, json=body)

    errors = assert_error(response, 422, "VALIDATION_ERROR")["details"]["errors"]
    assert [error["field"] for error in errors] == [f"body.{field}"]


@pytest.mark.parametrize(
    "body",
    [
        {"password": PASSWORD, "fullName": "No Email"},
        {"email": "x@example.com", "fullName": "No Password"},
        {"email": 42, "password": PASSWORD, "fullName": "Number"},
        {"email": "x@example.com", "password": ["a", "list"], "fullName": "List"},
        [],
        "just a string",
    ],
)
async def test_missing_fields_and_wrong_types_are_validation_errors(client, body):
    response = await client.post(REGISTER, json=body)
    assert_error(response, 422, "VALIDATION_ERROR")
    assert PASSWORD not in response.text


async def test_the_password_is_stored_as_argon2id_and_never_in_clear(client, runtime):
    email = _email()
    response = await client.post(REGISTER, json={"email": email, "password": PASSWORD, "fullName": "Hashed"})
    assert response.status_code == 201, response.text

    async with runtime.session_factory() as session:
        user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    assert user.password_hash.startswith("$argon2id$v=19$")
    assert PASSWORD not in user.password_hash
    # A second user with the same password gets a different hash (random salt).
    other = _email()
    await client.post(REGISTER, json={"email": other, "password": PASSWORD, "fullName": "Same Password"})
    async with runtime.session_factory() as session:
        other_user = await session.scalar(select(User).where(User.email == other))
    assert other_user is not None
    assert other_user.password_hash != user.password_hash


async def test_the_email_is_stored_normalised(client, runtime):
    local = f"Mixed.Case-{uuid.uuid4().hex[:8]}"
    response = await client.post(
        REGISTER, json={"email": f"{local}@Example.COM", "password": PASSWORD, "fullName": "Mixed Case"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["email"] == f"{local.lower()}@example.com"
