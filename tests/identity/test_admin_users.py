"""Admin contract (SPEC §11): `GET /admin/users?email=` and `PATCH /admin/users/{id}`, audited."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import TestUser as SignedIn
from tests.factories import new_user
from tests.ops.contract import assert_error

USERS = "/api/v1/admin/users"
USER_KEYS = {"id", "email", "fullName", "role", "isActive", "createdAt"}


@pytest.fixture(scope="module")
async def admin(client, runtime) -> SignedIn:
    return await new_user(client, runtime, admin=True)


async def test_find_a_user_by_email_in_any_letter_case(client, admin):
    user = await new_user(client)

    response = await client.get(USERS, params={"email": user.email.upper()}, headers=admin.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["nextCursor"] is None
    assert len(body["items"]) == 1
    item = body["items"][0]
    assert set(item) == USER_KEYS
    assert item == {**item, "id": user.id, "email": user.email, "role": "passenger", "isActive": True}


async def test_email_is_matched_exactly_not_as_a_pattern(client, admin):
    user = await new_user(client)
    local, domain = user.email.split("@")
    for near_miss in (f"{local[:-1]}@{domain}", f"%@{domain}", f"{local}_@{domain}", f"{local}%", "%"):
        response = await client.get(USERS, params={"email": near_miss}, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert response.json()["items"] == [], near_miss


async def test_without_email_users_are_listed_newest_first_page_by_page(client, admin):
    mine = [await new_user(client) for _ in range(3)]

    first = (await client.get(USERS, params={"limit": 2}, headers=admin.headers)).json()
    second = (await client.get(USERS, params={"limit": 2, "cursor": first["nextCursor"]},
                               headers=admin.headers)).json()

    ids = [item["id"] for item in first["items"] + second["items"]]
    assert ids[:3] == [user.id for user in reversed(mine)]
    assert len(set(ids)) == 4


async def test_patch_is_audited_with_actor_action_resource_and_changes(client, admin):
    user = await new_user(client)

    response = await client.patch(f"{USERS}/{user.id}", json={"isActive": False},
                                  headers={**admin.headers, "User-Agent": "staff-console/1.0"})

    assert response.status_code == 200, response.text
    assert set(response.json()) == USER_KEYS and response.json()["isActive"] is False
    log = await client.get("/api/v1/admin/audit-log", params={"resourceType": "user", "resourceId": user.id},
                           headers=admin.headers)
    [entry] = log.json()["items"]
    assert entry["action"] == "user.update"
    assert entry["actorId"] == admin.id and entry["actorRole"] == "admin"
    assert entry["changes"] == {"isActive": [True, False]}
    assert entry["userAgent"] == "staff-console/1.0"


async def test_a_role_change_is_audited_and_shown(client, admin):
    user = await new_user(client)

    response = await client.patch(f"{USERS}/{user.id}", json={"role": "admin"}, headers=admin.headers)

    assert response.status_code == 200 and response.json()["role"] == "admin"
    log = await client.get("/api/v1/admin/audit-log", params={"resourceType": "user", "resourceId": user.id},
                           headers=admin.headers)
    assert [entry["changes"] for entry in log.json()["items"]] == [{"role": ["passenger", "admin"]}]


async def test_setting_what_is_already_set_changes_nothing(client, admin):
    user = await new_user(client)

    response = await client.patch(f"{USERS}/{user.id}", json={"isActive": True, "role": "passenger"},
                                  headers=admin.headers)

    assert response.status_code == 200
    assert (await client.get("/api/v1/me", headers=user.headers)).status_code == 200  # token still honoured


async def test_deactivation_revokes_every_refresh_token(client, admin):
    user = await new_user(client)
    await client.patch(f"{USERS}/{user.id}", json={"isActive": False}, headers=admin.headers)
    await client.patch(f"{USERS}/{user.id}", json={"isActive": True}, headers=admin.headers)

    # Reactivated, but the refresh token issued before the deactivation stays revoked.
    assert_error(await client.post("/api/v1/auth/refresh", json={"refreshToken": user.refresh_token}),
                 401, "UNAUTHORIZED")


async def test_an_admin_cannot_deactivate_or_demote_themself(client, runtime):
    me = await new_user(client, runtime, admin=True)
    for change in ({"isActive": False}, {"role": "passenger"}):
        assert_error(await client.patch(f"{USERS}/{me.id}", json=change, headers=me.headers), 403, "FORBIDDEN")
    assert (await client.get(USERS, headers=me.headers)).status_code == 200


@pytest.mark.parametrize("body", [{}, {"isActive": None, "role": None}, {"role": "pilot"}, {"isActive": "no"},
                                  {"isActive": False, "email": "x@example.com"}])
async def test_a_patch_that_says_nothing_valid_is_a_validation_error(client, admin, body):
    user = await new_user(client)
    assert_error(await client.patch(f"{USERS}/{user.id}", json=body, headers=admin.headers), 422, "VALIDATION_ERROR")


async def test_unknown_user_is_not_found(client, admin):
    response = await client.patch(f"{USERS}/{uuid.uuid4()}", json={"isActive": False}, headers=admin.headers)
    assert_error(response, 404, "NOT_FOUND")


async def test_passengers_may_not_list_or_change_users(client):
    passenger = await new_user(client)
    assert_error(await client.get(USERS, headers=passenger.headers), 403, "FORBIDDEN")
    response = await client.patch(f"{USERS}/{passenger.id}", json={"role": "admin"}, headers=passenger.headers)
    assert_error(response, 403, "FORBIDDEN")
    assert_error(await client.get(USERS), 401, "UNAUTHORIZED")
