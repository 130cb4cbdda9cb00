"""SPEC §6: passwords of at least 10 characters, not the e-mail, not in a list of common passwords
(case-insensitive) — on register and wherever a password is set (`ais create-admin`)."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from ais.identity.models import User
from tests.factories import PASSWORD
from tests.ops.contract import assert_error

REGISTER = "/api/v1/auth/register"


def _email(local: str | None = None) -> str:
    return f"{local or 'pw-' + uuid.uuid4().hex[:10]}@example.com"


async def _register(client, email: str, password: str):
    return await client.post(REGISTER, json={"email": email, "password": password, "fullName": "Pass Word"})


def _refused_on_password(response) -> None:
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert [error["field"] for error in body["details"]["errors"]] == ["body.password"], body


async def test_password123_is_refused(client):
    _refused_on_password(await _register(client, _email(), "password123"))


async def test_the_email_itself_is_refused_in_any_letter_case(client):
    email = _email()
    _refused_on_password(await _register(client, email, email))
    _refused_on_password(await _register(client, email, email.upper()))


async def test_the_local_part_of_the_email_is_refused_even_padded(client):
    local = f"layla.{uuid.uuid4().hex[:6]}.haddad"
    _refused_on_password(await _register(client, _email(local), local))
    _refused_on_password(await _register(client, _email(local), f"{local.title()}2024!"))


@pytest.mark.parametrize("password", ["1q2w3e4r5t", "Manchester", "PLAYSTATION", "tinkerbell", "Liverpool1!"])
async def test_passwords_from_the_common_list_are_refused_case_insensitively(client, password):
    _refused_on_password(await _register(client, _email(), password))


def test_the_shipped_list_is_a_real_one():
    from ais.identity.security import common_passwords

    words = common_passwords()
    assert len(words) >= 3000
    assert {"password123", "qwertyuiop", "1234567890"} <= words
    assert all(word == word.lower() and word.strip() == word for word in words)


@pytest.mark.parametrize("password", [PASSWORD, "Layla flies to Jeddah on Tuesdays", "violet-kettle-77-orbit"])
async def test_a_good_password_is_accepted(client, password):
    response = await _register(client, _email(), password)
    assert response.status_code == 201, response.text


async def test_create_admin_refuses_the_same_weak_passwords(settings, runtime):
    """`ais create-admin` validates through the registration schema: exit 2, one line, no user."""
    email = _email()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIS_", "DATABASE_", "REDIS_"))}
    env.update({"AIS_DATA_DIR": str(settings.ais_data_dir), "DATABASE_URL": settings.effective_database_url})
    ais = Path(sys.executable).with_name("ais")
    for password in (email, "password123", "Manchester"):
        process = await asyncio.create_subprocess_exec(
            str(ais), "create-admin", "--email", email, "--password", password, env=env, cwd=settings.ais_data_dir,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = (part.decode() for part in await asyncio.wait_for(process.communicate(), timeout=120))
        assert process.returncode == 2, (password, out, err)
        assert "password" in (out + err).lower()
        assert "Traceback" not in err
    async with runtime.session_factory() as session:
        assert (await session.scalars(select(User).where(User.email == email))).all() == []
