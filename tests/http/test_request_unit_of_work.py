"""Each request has one transaction owner, the unit of work of `UnitOfWorkDep`: it commits when
the endpoint has returned, before the answer goes out (a commit that fails is an error answer,
never a 2xx), rolls back when the endpoint raises, and runs the hooks registered where the change
was made. Throwaway routes on the real app, against the real database."""

from __future__ import annotations

import random
import string
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from ais.app import create_app
from ais.db.unit_of_work import after_commit
from ais.errors import Unauthorized
from ais.flights.models import Airport
from ais.http.dependencies import SessionDep, UnitOfWorkDep
from ais.runtime import Runtime

EVENTS: list[str] = []


_DRAWN: set[str] = set()


def _code() -> str:
    """A code no other test here used: one that an earlier test created would make the "commit
    that fails" test find it afterwards."""
    while (code := "U" + "".join(random.choices(string.ascii_uppercase, k=2))) in _DRAWN:
        pass
    _DRAWN.add(code)
    return code


def _airport(code: str) -> Airport:
    return Airport(code=code, name="Unit of work field", city="Nowhere", country="ZZ", timezone="UTC")


class RevokedAndRefused(Unauthorized):
    keeps_changes = True


@pytest.fixture(scope="module")
async def uow_app(settings) -> AsyncIterator[FastAPI]:  # type: ignore[no-untyped-def]
    app = create_app(settings)

    @app.post("/_test/airports/{code}")
    async def add(code: str, session: SessionDep) -> dict[str, str]:
        async def committed(_: Runtime) -> None:
            EVENTS.append(f"committed {code}")

        session.add(_airport(code))
        after_commit(session, committed)
        EVENTS.append(f"returned {code}")
        return {"code": code}

    @app.post("/_test/airports/{code}/then-fail")
    async def add_then_fail(code: str, uow: UnitOfWorkDep) -> None:
        async def rolled_back(_: Runtime) -> None:
            EVENTS.append(f"rolled back {code}")

        uow.session.add(_airport(code))
        await uow.session.flush()
        uow.on_rollback(rolled_back)
        raise LookupError("the service refused")

    @app.post("/_test/airports/{code}/twice")
    async def add_twice(code: str, session: SessionDep) -> dict[str, str]:
        session.add(_airport(code))  # flushed only by the commit, which the primary key refuses
        session.add(_airport(code))
        return {"code": code}

    @app.post("/_test/airports/{code}/kept")
    async def add_and_refuse(code: str, session: SessionDep) -> None:
        session.add(_airport(code))
        raise RevokedAndRefused("kept, then refused")

    yield app
    await app.state.runtime.close()


@pytest.fixture
async def uow_client(uow_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=uow_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def _exists(runtime: Runtime, code: str) -> bool:
    async with runtime.session_factory() as session:
        return await session.scalar(select(Airport.code).where(Airport.code == code)) is not None


async def test_the_request_commits_after_the_endpoint_returned_and_then_runs_its_hooks(uow_client, runtime):
    code = _code()
    EVENTS.clear()
    response = await uow_client.post(f"/_test/airports/{code}")
    assert response.status_code == 200, response.text
    assert EVENTS == [f"returned {code}", f"committed {code}"]
    assert await _exists(runtime, code)


async def test_an_endpoint_that_raises_rolls_back_and_runs_the_rollback_hooks(uow_client, runtime):
    code = _code()
    EVENTS.clear()
    response = await uow_client.post(f"/_test/airports/{code}/then-fail")
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_ERROR"
    assert EVENTS == [f"rolled back {code}"]
    assert not await _exists(runtime, code)


async def test_a_commit_that_fails_is_an_error_answer_not_a_success(uow_client, runtime):
    code = _code()
    response = await uow_client.post(f"/_test/airports/{code}/twice")
    assert response.status_code == 500, response.text
    assert set(response.json()) == {"code", "message", "correlationId", "retryable", "details"}
    assert not await _exists(runtime, code)


async def test_an_error_that_keeps_its_changes_commits_them_and_is_still_answered(uow_client, runtime):
    code = _code()
    response = await uow_client.post(f"/_test/airports/{code}/kept")
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
    assert await _exists(runtime, code)
