"""The unit of work owns the transaction: commit on a clean exit, rollback on an exception, and
after-commit hooks that run only once the commit succeeded."""

from __future__ import annotations

import random
import string

import pytest
import structlog.testing
from sqlalchemy import delete, select

from ais.db.unit_of_work import UnitOfWork, after_commit, unit_of_work_of
from ais.flights.models import Airport
from ais.runtime import Runtime


def _code() -> str:
    return "Q" + "".join(random.choices(string.ascii_uppercase, k=2))


def _airport(code: str) -> Airport:
    return Airport(code=code, name="Test field", city="Nowhere", country="ZZ", timezone="UTC")


async def _exists(runtime: Runtime, code: str) -> bool:
    async with runtime.session_factory() as session:
        return await session.scalar(select(Airport.code).where(Airport.code == code)) is not None


async def _remove(runtime: Runtime, code: str) -> None:
    async with UnitOfWork(runtime) as uow:
        await uow.session.execute(delete(Airport).where(Airport.code == code))


async def test_a_clean_exit_commits_and_then_runs_the_hooks(runtime: Runtime) -> None:
    code, seen = _code(), []

    async def hook(_: Runtime) -> None:
        seen.append(await _exists(runtime, code))  # the change is visible to others already

    async with UnitOfWork(runtime) as uow:
        uow.session.add(_airport(code))
        after_commit(uow.session, hook)
        assert seen == []
    assert seen == [True]
    await _remove(runtime, code)


async def test_an_exception_rolls_back_and_drops_the_after_commit_hooks(runtime: Runtime) -> None:
    code, ran, released = _code(), [], []

    async def hook(_: Runtime) -> None:
        ran.append(True)

    async def release(_: Runtime) -> None:
        released.append(True)

    with pytest.raises(LookupError):
        async with UnitOfWork(runtime) as uow:
            uow.session.add(_airport(code))
            await uow.session.flush()
            uow.after_commit(hook)
            uow.on_rollback(release)
            raise LookupError("the service refused")
    assert not await _exists(runtime, code)
    assert ran == [] and released == [True]


async def test_hooks_under_one_key_run_once_and_a_failing_hook_does_not_undo_the_commit(runtime: Runtime) -> None:
    code, calls = _code(), []

    async def invalidate(_: Runtime) -> None:
        calls.append("invalidate")

    async def broken(_: Runtime) -> None:
        raise RuntimeError("the cache is down")

    async with UnitOfWork(runtime) as uow:
        uow.session.add(_airport(code))
        for _ in range(3):
            uow.after_commit(invalidate, key="search-cache")
        uow.after_commit(broken)
    assert calls == ["invalidate"]
    assert await _exists(runtime, code)
    await _remove(runtime, code)


async def test_a_two_transaction_flow_runs_each_transactions_hooks_at_its_own_commit(runtime: Runtime) -> None:
    first, second, order = _code(), _code(), []

    async def after_first(_: Runtime) -> None:
        order.append(("first", await _exists(runtime, first), await _exists(runtime, second)))

    with pytest.raises(LookupError):
        async with UnitOfWork(runtime) as uow:
            uow.session.add(_airport(first))
            uow.after_commit(after_first)
            await uow.commit()  # e.g. the idempotency claim, before a provider call
            uow.session.add(_airport(second))
            await uow.session.flush()
            raise LookupError("the provider refused")
    assert order == [("first", True, False)]
    assert await _exists(runtime, first) and not await _exists(runtime, second)
    await _remove(runtime, first)


async def test_a_session_outside_a_unit_of_work_cannot_take_hooks(runtime: Runtime) -> None:
    async def hook(_: Runtime) -> None:
        return None

    async with runtime.session_factory() as session:
        with pytest.raises(RuntimeError):
            after_commit(session, hook)
    async with UnitOfWork(runtime) as uow:
        assert unit_of_work_of(uow.session) is uow


async def test_a_hook_failed_by_a_database_outage_is_one_warning_line_without_a_stack_trace(runtime: Runtime) -> None:
    """An outage makes hooks fail (the idempotency release, the cache invalidation): that is logged
    as a warning without a traceback, while a hook failing for any other reason keeps its trace."""

    async def outage(_: Runtime) -> None:
        raise ConnectionRefusedError("connection refused")

    async def bug(_: Runtime) -> None:
        raise KeyError("a real bug")

    with structlog.testing.capture_logs() as logs:
        async with UnitOfWork(runtime) as uow:
            uow.after_commit(outage)
            uow.after_commit(bug)
    failures = [entry for entry in logs if entry["event"] == "unit_of_work_hook_failed"]
    assert [entry["log_level"] for entry in failures] == ["warning", "warning"]
    assert failures[0]["error"] == "ConnectionRefusedError" and "exc_info" not in failures[0]
    assert failures[1]["exc_info"] is True
