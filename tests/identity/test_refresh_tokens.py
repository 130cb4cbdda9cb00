"""SPEC §6: refresh tokens — rotation, reuse detection, concurrency, storage, logout."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from ais.db.base import utcnow
from ais.identity.models import RefreshToken, TokenStatus
from tests.factories import PASSWORD, login, new_user
from tests.ops.contract import assert_error

REFRESH = "/api/v1/auth/refresh"


async def refresh(client, token: str):
    return await client.post(REFRESH, json={"refreshToken": token})


async def refreshed(client, token: str) -> dict:
    response = await refresh(client, token)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def chain(runtime, user_id: str) -> list[RefreshToken]:
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            select(RefreshToken).where(RefreshToken.user_id == uuid.UUID(user_id)).order_by(RefreshToken.created_at)
        )
        return list(rows.all())


async def test_refresh_rotates_the_token(client):
    user = await new_user(client)
    pair = await refreshed(client, user.refresh_token)

    assert set(pair) == {"accessToken", "refreshToken", "expiresIn", "tokenType"}
    assert pair["refreshToken"] != user.refresh_token
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['accessToken']}"})
    assert me.status_code == 200 and me.json()["id"] == user.id
    # The new refresh token works in turn; the chain can go on.
    third = await refreshed(client, pair["refreshToken"])
    assert third["refreshToken"] not in (pair["refreshToken"], user.refresh_token)


async def test_an_already_rotated_token_revokes_that_device_and_only_that_device(client, runtime):
    user = await new_user(client, device_name="phone")
    laptop = await login(client, user.email, device_name="laptop")
    newest = (await refreshed(client, user.refresh_token))["refreshToken"]

    # The old token is presented again: a thief or a replay.
    reuse = await refresh(client, user.refresh_token)

    assert_error(reuse, 401, "UNAUTHORIZED")
    # The whole phone chain is dead, including the newest token the legitimate client holds...
    assert_error(await refresh(client, newest), 401, "UNAUTHORIZED")
    # ...and presenting the stolen one again changes nothing and is still refused.
    assert_error(await refresh(client, user.refresh_token), 401, "UNAUTHORIZED")
    # The laptop was not part of that chain and keeps working.
    laptop_pair = await refreshed(client, laptop["refreshToken"])
    assert laptop_pair["refreshToken"]

    rows = await chain(runtime, user.id)
    phone_rows = [row for row in rows if row.device_name == "phone"]
    laptop_rows = [row for row in rows if row.device_name == "laptop"]
    assert len(phone_rows) == 2 and all(row.status == TokenStatus.REVOKED for row in phone_rows)
    assert all(row.revoked_at is not None for row in phone_rows)
    assert [row.status for row in laptop_rows] == [TokenStatus.ROTATED, TokenStatus.ACTIVE]


async def test_reuse_of_an_old_token_deep_in_the_chain_revokes_it(client):
    user = await new_user(client)
    tokens = [user.refresh_token]
    for _ in range(3):
        tokens.append((await refreshed(client, tokens[-1]))["refreshToken"])

    assert_error(await refresh(client, tokens[1]), 401, "UNAUTHORIZED")
    assert_error(await refresh(client, tokens[-1]), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("racers", [2, 5])
async def test_concurrent_refreshes_with_one_token_never_fork_the_chain(client, runtime, racers):
    user = await new_user(client)

    responses = await asyncio.gather(*(refresh(client, user.refresh_token) for _ in range(racers)))

    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) <= 1, [r.text for r in responses]
    for response in responses:
        if response.status_code != 200:
            assert_error(response, 401, "UNAUTHORIZED")
    # However the race went, no two live tokens come out of one: at most one is still usable.
    rows = await chain(runtime, user.id)
    assert sum(row.status == TokenStatus.ACTIVE for row in rows) <= 1
    still_working = [
        pair["refreshToken"] for pair in (r.json() for r in winners)
        if (await refresh(client, pair["refreshToken"])).status_code == 200
    ]
    assert len(still_working) <= 1


async def test_refresh_tokens_are_stored_only_as_peppered_sha256(client, runtime, settings):
    user = await new_user(client)
    rotated = await refreshed(client, user.refresh_token)
    raw_tokens = [user.refresh_token, rotated["refreshToken"]]

    rows = await chain(runtime, user.id)
    assert len(rows) == 2
    pepper = settings.refresh_token_pepper
    assert pepper
    for raw, row in zip(raw_tokens, rows, strict=True):
        assert row.token_hash == hashlib.sha256((raw + pepper).encode()).hexdigest()
        assert row.token_hash != hashlib.sha256(raw.encode()).hexdigest()  # the pepper is really used
    # The raw token appears in no column of any row.
    dumped = " ".join(
        repr({column.name: getattr(row, column.key) for column in RefreshToken.__table__.columns}) for row in rows
    )
    for raw in raw_tokens:
        assert raw not in dumped


async def test_unknown_malformed_and_expired_refresh_tokens_are_refused(client, runtime):
    user = await new_user(client)
    for token in ("nonsense", "x" * 512, user.access_token[:500]):
        assert_error(await refresh(client, token), 401, "UNAUTHORIZED")
    assert_error(await client.post(REFRESH, json={"refreshToken": ""}), 422, "VALIDATION_ERROR")
    assert_error(await client.post(REFRESH, json={}), 422, "VALIDATION_ERROR")

    async with runtime.session_factory() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == uuid.UUID(user.id))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert_error(await refresh(client, user.refresh_token), 401, "UNAUTHORIZED")


async def logout(client, user_headers: dict[str, str], refresh_token: str):
    return await client.post("/api/v1/auth/logout", json={"refreshToken": refresh_token}, headers=user_headers)


async def test_logout_revokes_one_device_only(client):
    user = await new_user(client, device_name="phone")
    laptop = await login(client, user.email, device_name="laptop")

    response = await logout(client, user.headers, user.refresh_token)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_error(await refresh(client, user.refresh_token), 401, "UNAUTHORIZED")
    assert (await refresh(client, laptop["refreshToken"])).status_code == 200
    # Logging out twice reveals nothing and fails nothing.
    assert (await logout(client, user.headers, user.refresh_token)).status_code == 204


async def test_logout_with_a_rotated_token_still_signs_that_device_out(client):
    user = await new_user(client)
    newest = (await refreshed(client, user.refresh_token))["refreshToken"]

    assert (await logout(client, user.headers, user.refresh_token)).status_code == 204
    assert_error(await refresh(client, newest), 401, "UNAUTHORIZED")


async def test_logout_cannot_revoke_someone_elses_device(client):
    victim = await new_user(client)
    attacker = await new_user(client)

    response = await logout(client, attacker.headers, victim.refresh_token)

    assert response.status_code == 204
    assert (await refresh(client, victim.refresh_token)).status_code == 200


async def test_logout_needs_an_access_token(client):
    user = await new_user(client)
    assert_error(
        await client.post("/api/v1/auth/logout", json={"refreshToken": user.refresh_token}), 401, "UNAUTHORIZED"
    )
    assert_error(await client.post("/api/v1/auth/logout-all"), 401, "UNAUTHORIZED")
    assert (await refresh(client, user.refresh_token)).status_code == 200


async def test_logout_all_revokes_every_device_of_that_user_only(client, runtime):
    user = await new_user(client, device_name="phone")
    devices = [await login(client, user.email, device_name=f"device-{i}") for i in range(2)]
    rotated = (await refreshed(client, devices[0]["refreshToken"]))["refreshToken"]
    bystander = await new_user(client)

    response = await client.post("/api/v1/auth/logout-all", headers=user.headers)

    assert response.status_code == 204, response.text
    for token in (user.refresh_token, rotated, devices[1]["refreshToken"]):
        assert_error(await refresh(client, token), 401, "UNAUTHORIZED")
    assert all(row.status == TokenStatus.REVOKED for row in await chain(runtime, user.id))
    assert (await refresh(client, bystander.refresh_token)).status_code == 200
    # Signing in again afterwards works: logout-all is not a lock-out.
    fresh = await login(client, user.email)
    assert (await refresh(client, fresh["refreshToken"])).status_code == 200


async def test_a_refresh_token_is_not_an_access_token(client):
    user = await new_user(client)
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {user.refresh_token}"})
    assert_error(response, 401, "UNAUTHORIZED")
    assert PASSWORD not in response.text
