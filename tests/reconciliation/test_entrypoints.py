"""The ways to start reconciliation: `POST /api/v1/admin/reconciliation`, `ais reconcile`, and the
daily job at 02:00 UTC."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from croniter import croniter
from rich.console import Console

from ais.jobs.schedule import BY_NAME
from ais.reconciliation.cli import _print_tables
from ais.reconciliation.schemas import ReconciliationRequest
from ais.reconciliation.service import reconcile
from tests.factories import new_user
from tests.fixtures.payment_flow import wait_for_status
from tests.reconciliation.support import ACTOR, RESULT_KEYS, checkout_paid_at_provider, snapshot

DETAIL_KEYS = {"paymentId", "bookingId", "bookingReference", "outcome", "action", "actions", "reason", "retryable",
               "checkoutSessionId", "paymentIntentId", "paymentStatus", "bookingStatus", "paymentStatusAfter",
               "bookingStatusAfter", "problems"}
ROUTE = "/api/v1/admin/reconciliation"


def _detail(body: dict[str, Any], booking_id: str) -> dict[str, Any]:
    [found] = [d for d in body["details"] if d["bookingId"] == booking_id]
    return found


async def test_admin_route_is_for_admins_dry_by_default_and_applies_on_request(http, runtime, live_runtime):
    passenger = await new_user(http)
    admin = await new_user(http, runtime, admin=True)
    assert (await http.post(ROUTE, json={"dryRun": True})).status_code == 401
    forbidden = await http.post(ROUTE, json={"dryRun": True}, headers=passenger.headers)
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "FORBIDDEN"
    for body in ({"dryRun": "false"}, {"dryRun": False, "paymentIds": []}):  # strict: no guessing, no extras
        refused = await http.post(ROUTE, json=body, headers=admin.headers)
        assert refused.status_code == 422 and refused.json()["code"] == "VALIDATION_ERROR", refused.text

    # No body (or no `dryRun`): a dry run, over every payment in the database, that changes nothing.
    assert ReconciliationRequest.model_validate({}).dry_run is True
    booking, _ = await checkout_paid_at_provider(http, runtime, passenger)
    before = await snapshot(live_runtime)
    dry = await http.post(ROUTE, headers=admin.headers)
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert set(body) == RESULT_KEYS and body["dryRun"] is True
    assert body["correlationId"] == dry.headers["X-Correlation-Id"]
    assert body["scanned"] == body["fixed"] + body["failed"] + body["skipped"] >= 1
    assert len(body["details"]) == body["fixed"] + body["failed"]
    detail = _detail(body, booking["id"])
    assert set(detail) == DETAIL_KEYS
    assert (detail["outcome"], detail["action"]) == ("would_fix", "would_apply_capture")
    assert await snapshot(live_runtime) == before

    real = await http.post(ROUTE, json={"dryRun": False}, headers=admin.headers)
    assert real.status_code == 200, real.text
    body = real.json()
    assert set(body) == RESULT_KEYS and body["dryRun"] is False
    assert datetime.fromisoformat(body["startedAt"]) <= datetime.fromisoformat(body["completedAt"])
    detail = _detail(body, booking["id"])
    assert (detail["outcome"], detail["action"], detail["bookingStatusAfter"]) == ("fixed", "apply_capture",
                                                                                  "confirmed")
    assert (await wait_for_status(http, passenger, booking["id"], "confirmed", timeout=0))["status"] == "confirmed"
    audit = await http.get("/api/v1/admin/audit-log", headers=admin.headers,
                           params={"resourceType": "reconciliation", "resourceId": body["correlationId"]})
    [entry] = audit.json()["items"]
    assert (entry["action"], entry["actorId"], entry["actorRole"]) == ("reconciliation.run", admin.id, "admin")
    assert entry["correlationId"] == body["correlationId"] == real.headers["X-Correlation-Id"]
    assert entry["changes"]["scanned"] == body["scanned"] and str(detail["paymentId"]) in entry["changes"][
        "fixedPayments"]


async def _ais(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("ais")), *args, env=env, cwd=env["AIS_DATA_DIR"],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_cli_reconcile_prints_the_result_and_changes_nothing_on_a_dry_run(http, live, runtime, live_runtime):
    user = await new_user(http)
    booking, _ = await checkout_paid_at_provider(http, runtime, user)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIS_", "STRIPE_", "DATABASE_", "REDIS_", "SANDBOX_"))}
    env.update({
        "AIS_DATA_DIR": str(live.settings.ais_data_dir),  # the embedded secrets, the sandbox's key among them
        "DATABASE_URL": live.settings.effective_database_url,
        "STRIPE_API_BASE": f"{live.url}/_sandbox/stripe",
        "LOG_LEVEL": "INFO",
    })
    before = await snapshot(live_runtime)
    code, out, err = await _ais("reconcile", "--dry-run", "--json", env=env)
    body = json.loads(out)  # stdout is the result alone; log lines went to stderr
    assert set(body) == RESULT_KEYS and body["dryRun"] is True, body
    assert code == (1 if body["failed"] else 0), err
    detail = _detail(body, booking["id"])
    assert (detail["outcome"], detail["action"]) == ("would_fix", "would_apply_capture")
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    done = [line for line in logs if line.get("event") == "reconciliation_done"]
    assert done and done[0]["correlation_id"] == body["correlationId"] and done[0]["scanned"] == body["scanned"]
    assert await snapshot(live_runtime) == before


async def test_cli_tables_summarise_the_run(http, runtime, live_runtime):
    user = await new_user(http)
    booking, _ = await checkout_paid_at_provider(http, runtime, user)
    result = await reconcile(live_runtime, dry_run=True, actor=ACTOR, booking_ids=[uuid.UUID(booking["id"])])
    console = Console(file=io.StringIO(), width=200)
    _print_tables(result, console)
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Reconciliation (dry run: nothing was changed)" in shown and result.correlation_id in shown
    assert "Would fix" in shown and booking["reference"] in shown and "would_apply_capture" in shown


def test_daily_reconciliation_is_scheduled_at_two_utc():
    spec = BY_NAME["daily_reconciliation"]
    assert spec.cron is not None
    day = datetime(2026, 3, 10, tzinfo=UTC)
    after = [croniter(spec.cron, day + offset).get_next(datetime) for offset in
             (timedelta(hours=1), timedelta(hours=2), timedelta(hours=23))]
    assert after == [day + timedelta(hours=2), day + timedelta(days=1, hours=2), day + timedelta(days=1, hours=2)]