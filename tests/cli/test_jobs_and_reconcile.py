"""`ais worker` / `ais scheduler` and `ais reconcile` as an operator runs them, against a real
`ais serve` and a real database: the worker runs a job and stops on SIGTERM; reconciliation, dry
and real, repairs a payment whose webhook was lost, reaching the server's payment sandbox on the
port the server really listens on (found in the data dir, never assumed)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from ais.bookings.models import Booking
from ais.config import Settings
from ais.db.base import utcnow
from ais.runtime import Runtime
from ais.wiring import create_runtime
from tests.cli.support import Operator, assert_one_line_error, free_port, query, running, stop, wait_until_answers
from tests.factories import book, new_flight, new_user
from tests.fixtures.payment_flow import complete_checkout, open_checkout


@pytest.fixture
async def operator_runtime(operator: Operator) -> AsyncIterator[Runtime]:
    """The test's own way into the operator's database (to add a flight, as an admin would)."""
    assert operator.run("db", "upgrade").code == 0
    runtime = create_runtime(Settings(_env_file=None, database_url=operator.database_url,  # type: ignore[call-arg]
                                      ais_data_dir=operator.data_dir, db_pool_size=2))
    yield runtime
    await runtime.close()


@pytest.mark.parametrize("command", ["worker", "scheduler"])
async def test_the_job_runner_runs_a_job_and_stops_on_sigterm(operator: Operator, operator_runtime: Runtime,
                                                              command: str):
    port = free_port()
    metrics_port = free_port()
    # A hold that lapsed a minute ago; the worker's expiry job must release it.
    flight = await new_flight(operator_runtime)
    async with _client_on(operator_runtime) as http:
        user = await new_user(http)
        booking = (await book(http, user, flight)).json()
    async with operator_runtime.session_factory() as session:
        await session.execute(update(Booking).where(Booking.id == uuid.UUID(booking["id"]))
                              .values(expires_at=utcnow() - timedelta(minutes=1)))
        await session.commit()

    with running(operator.start(command, "--metrics-port", str(metrics_port),
                                PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")) as worker:
        deadline = time.monotonic() + 60
        while await _status(operator_runtime, booking["id"]) != "expired" and time.monotonic() < deadline:
            assert worker.process.poll() is None, worker.output()
            await asyncio.sleep(0.3)
        assert await _status(operator_runtime, booking["id"]) == "expired", worker.output()
        async with httpx.AsyncClient(timeout=10) as http:
            metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        started = time.monotonic()
        result = stop(worker)

    assert result.code == 0, result
    assert time.monotonic() - started < 30
    assert 'ais_job_runs_total{outcome="ok",task="expire_stale_holds"}' in metrics, metrics
    assert "ais_job_duration_seconds_count" in metrics
    assert "Traceback" not in result.err + result.out
    assert not list((operator.data_dir / "metrics").glob("worker-*"))  # its metrics files went with it


def test_the_job_runner_outside_production_needs_a_server_to_reach(operator: Operator):
    assert_one_line_error(operator.run("worker"), 2, "No running AIS server", "PUBLIC_BASE_URL")


@pytest.mark.parametrize("found_by", ["data dir", "PUBLIC_BASE_URL"])
async def test_reconcile_repairs_a_payment_whose_webhook_was_lost(operator: Operator, operator_runtime: Runtime,
                                                                  found_by: str):
    port = free_port()  # never 8000: the CLI must find it in the data dir (or be told)
    base = f"http://127.0.0.1:{port}"
    if found_by == "PUBLIC_BASE_URL":
        operator.env["PUBLIC_BASE_URL"] = base
    flight = await new_flight(operator_runtime)
    with running(operator.start("serve", "--port", str(port), "--no-demo", SANDBOX_WEBHOOK_DELIVERY="off")) as server:
        wait_until_answers(f"{base}/health/live", server)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            user = await new_user(http)
            booking = (await book(http, user, flight)).json()
            checkout = await open_checkout(http, user, booking["id"])
            await complete_checkout(http, checkout["checkoutUrl"])  # paid at the provider; no webhook arrives
            assert (await http.get(f"/api/v1/bookings/{booking['id']}", headers=user.headers)).json()["status"] \
                == "pending"

            dry = operator.run("reconcile", "--dry-run", "--json")
            assert dry.code == 0, dry
            dry_body = json.loads(dry.out)
            [dry_detail] = [d for d in dry_body["details"] if d["bookingId"] == booking["id"]]
            assert (dry_detail["outcome"], dry_detail["action"]) == ("would_fix", "would_apply_capture")
            assert await _status(operator_runtime, booking["id"]) == "pending"  # a dry run changes nothing

            real = operator.run("reconcile", "--json")
            assert real.code == 0, real
            body = json.loads(real.out)
            [detail] = [d for d in body["details"] if d["bookingId"] == booking["id"]]
            assert (detail["outcome"], detail["action"], detail["bookingStatusAfter"]) == (
                "fixed", "apply_capture", "confirmed")
            after = (await http.get(f"/api/v1/bookings/{booking['id']}", headers=user.headers)).json()
            assert after["status"] == "confirmed" and all(p["ticketNumber"] for p in after["passengers"])

            again = operator.run("reconcile")  # the table view; nothing left to fix
            assert again.code == 0 and "Reconciliation (applied)" in again.out, again
        stop(server)
    assert query(operator.database_url, "SELECT count(*) FROM ledger_entries WHERE type = 'charge'") == [(1,)]


def test_reconcile_without_a_running_server_says_so_in_one_line(operator: Operator):
    assert operator.run("db", "upgrade").code == 0
    assert_one_line_error(operator.run("reconcile", "--dry-run"), 2, "No running AIS server", "ais serve")
    # A record left by a server that was killed (its process is gone) is not trusted either.
    from ais.ops import running_server

    running_server.announce(operator.data_dir, "http://127.0.0.1:8000", pid=_dead_pid())
    assert_one_line_error(operator.run("reconcile", "--dry-run"), 2, "No running AIS server")


def test_reconcile_uses_public_base_url_when_configured(operator: Operator):
    assert operator.run("db", "upgrade").code == 0
    port = free_port()
    with running(operator.start("serve", "--port", str(port), "--no-demo")) as server:
        wait_until_answers(f"http://127.0.0.1:{port}/health/live", server)
        (operator.data_dir / "server.json").unlink()  # only the setting is left to find it by
        result = operator.run("reconcile", "--dry-run", "--json", PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
        stop(server)
    assert result.code == 0, result
    assert json.loads(result.out)["dryRun"] is True


def _dead_pid() -> int:
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _client_on(runtime: Runtime) -> httpx.AsyncClient:
    from ais.app import create_app

    settings = runtime.settings.model_copy(update={"run_jobs_in_process": False, "public_base_url": "http://test"})
    app = create_app(settings.with_embedded_secrets())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def _status(runtime: Runtime, booking_id: str) -> str:
    async with runtime.session_factory() as session:
        booking = await session.get(Booking, uuid.UUID(booking_id), populate_existing=True)
        assert booking is not None
        return booking.status.value
