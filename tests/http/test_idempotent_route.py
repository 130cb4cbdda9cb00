"""`idempotent(...)`, the dependency of every idempotent route (SPEC §7), on a throwaway route:
the key is claimed before the route runs, a completed key is answered byte for byte without
running it again, a body that does not validate claims nothing, and a route that fails releases
the key so that the same request may be retried."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Response
from pydantic import Field
from sqlalchemy import select

from ais.app import create_app
from ais.errors import SeatsUnavailable
from ais.http.api_model import ApiModel, StrictApiModel
from ais.http.idempotency import IdempotentRequest, idempotent
from ais.idempotency.models import IdempotencyRecord, IdempotencyStatus
from ais.runtime import Runtime
from tests.factories import new_user

RUNS: list[str] = []


class Order(StrictApiModel):
    item: str = Field(min_length=1)
    quantity: int = 1
    fail: bool = False


class OrderOut(ApiModel):
    id: uuid.UUID
    item: str
    quantity: int


Claimed = Annotated[IdempotentRequest, Depends(idempotent("test.orders", body=Order))]


@pytest.fixture(scope="module")
async def idem_app(settings) -> AsyncIterator[FastAPI]:  # type: ignore[no-untyped-def]
    app = create_app(settings)

    @app.post("/_test/orders", status_code=201)
    async def order(body: Order, idem: Claimed) -> Response:
        RUNS.append(body.item)
        if body.fail:
            raise SeatsUnavailable()
        return await idem.respond(201, OrderOut(id=uuid.uuid4(), item=body.item, quantity=body.quantity))

    yield app
    await app.state.runtime.close()


@pytest.fixture
async def idem_client(idem_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=idem_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def _record(runtime: Runtime, key: str) -> IdempotencyRecord | None:
    async with runtime.session_factory() as session:
        return await session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == key,
                                                                    IdempotencyRecord.scope == "test.orders"))


async def test_a_completed_key_is_answered_byte_for_byte_without_running_the_route(idem_client, client, runtime):
    user = await new_user(client)
    headers = {**user.headers, "Idempotency-Key": str(uuid.uuid4())}
    RUNS.clear()
    first = await idem_client.post("/_test/orders", json={"item": "tea"}, headers=headers)
    # The same request in another canonical form (key order, a default spelled out) is the same request.
    again = await idem_client.post("/_test/orders", json={"quantity": 1, "item": "tea"}, headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert RUNS == ["tea"]
    other = await idem_client.post("/_test/orders", json={"item": "coffee"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "IDEMPOTENCY_PAYLOAD_MISMATCH"


async def test_a_body_that_does_not_validate_claims_nothing(idem_client, client, runtime):
    user = await new_user(client)
    key = str(uuid.uuid4())
    RUNS.clear()
    response = await idem_client.post("/_test/orders", json={"item": ""},
                                      headers={**user.headers, "Idempotency-Key": key})
    assert response.status_code == 422 and response.json()["code"] == "VALIDATION_ERROR"
    assert RUNS == [] and await _record(runtime, key) is None


async def test_a_route_that_fails_releases_the_key_for_a_retry(idem_client, client, runtime):
    user = await new_user(client)
    key = str(uuid.uuid4())
    headers = {**user.headers, "Idempotency-Key": key}
    RUNS.clear()
    failed = await idem_client.post("/_test/orders", json={"item": "tea", "fail": True}, headers=headers)
    assert failed.status_code == 409 and failed.json()["code"] == "SEATS_UNAVAILABLE"
    record = await _record(runtime, key)
    assert record is not None and record.status == IdempotencyStatus.FAILED  # only 2xx answers are stored
    retried = await idem_client.post("/_test/orders", json={"item": "tea", "fail": True}, headers=headers)
    assert retried.status_code == 409  # ran again, not a replay of the failure
    assert RUNS == ["tea", "tea"]


async def test_a_missing_key_is_refused_before_anything_runs(idem_client, client):
    user = await new_user(client)
    RUNS.clear()
    response = await idem_client.post("/_test/orders", json={"item": "tea"}, headers=user.headers)
    assert response.status_code == 400 and response.json()["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    assert RUNS == []
