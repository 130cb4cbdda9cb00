"""docs/runbook.md is exercised (issue 9 §5): every command it names exists with the options it
names, every metric and log line it tells an operator to look for is one AIS emits, and its curl
commands (the admin token, maintenance mode on and off, the webhook inbox and a replay) are run
as written, with bash and curl, against a live AIS."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.metrics import MetricWrapperBase

from ais.app import create_app
from ais.config import Settings
from ais.ops import metrics
from ais.wiring import create_runtime
from tests.factories import PASSWORD, book, new_flight, new_user
from tests.faults.support import signed_event
from tests.ops.contract import assert_error
from tests.payments.sandbox.serving import reserve_socket, serve

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
SRC = ROOT / "src" / "ais"
AIS = str(Path(sys.executable).with_name("ais"))
# SPEC §8/§11 names, arriving with the job queue on procrastinate (issue 9 §1). Each entry must be
# removed once it exists: the tests below fail when an exempted name is already there.
ARRIVING: dict[str, set] = {"commands": set(), "options": set(), "metrics": set()}


# `ais <command> [<subcommand>] [options and arguments]`
AIS_COMMAND = re.compile(r"(?:^|[\s(])ais ([a-z][a-z-]*)((?: [a-z][a-z-]*)?)((?: (?:--[a-z-]+|\S+))*)")


def runbook() -> str:
    return RUNBOOK.read_text()


def shell_commands(text: str) -> list[str]:
    """Every command in the runbook's ```sh blocks and inline `…` spans, continuation lines joined."""
    spans = re.findall(r"```sh\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", text)
    commands = []
    for span in spans:
        for command in re.sub(r"\\\n\s*", " ", span).splitlines():
            command = command.strip()
            if command:
                commands.append(command)
    return commands


def _help(*args: str) -> str:
    result = subprocess.run([AIS, *args, "--help"], capture_output=True, text=True, timeout=60,
                            env={"COLUMNS": "200", "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}, check=False)
    return result.stdout if result.returncode == 0 else ""


def test_every_ais_command_and_option_the_runbook_names_exists():
    named: set[tuple[str, ...]] = set()
    for command in shell_commands(runbook()):
        for match in AIS_COMMAND.finditer(command):
            name, sub, rest = match.group(1), match.group(2).strip(), match.group(3)
            words = (name, sub) if sub and not sub.startswith("-") and _help(name, sub) else (name,)
            named.add(words)
            named.update((*words, option) for option in re.findall(r"--[a-z][a-z-]*", rest))
    assert ("reconcile", "--dry-run") in named and ("jobs",) in named, named
    for words in sorted(named):
        options = [word for word in words if word.startswith("--")]
        command = [word for word in words if not word.startswith("--")]
        screen = _help(*command)
        exists = bool(screen) and all(re.search(rf"{option}\b", screen) for option in options)
        if command[0] in ARRIVING["commands"]:
            assert not _help(command[0]), f"`ais {command[0]}` exists now: remove it from ARRIVING"
            continue
        if tuple(words) in ARRIVING["options"]:
            assert not exists, f"`ais {' '.join(words)}` exists now: remove it from ARRIVING"
            continue
        assert exists, f"the runbook names `ais {' '.join(words)}`, which the ais command does not have"


def exported_metric_names() -> set[str]:
    names = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            base = value._name  # the name without the _total suffix a counter is exposed with
            names |= {base, f"{base}_total", f"{base}_count", f"{base}_sum", f"{base}_bucket"}
    return names


def test_every_metric_the_runbook_names_is_exported():
    named = set(re.findall(r"\b(ais_[a-z_]+)\b", runbook()))
    assert "ais_http_request_duration_seconds_count" in named, named
    exported = exported_metric_names()
    for name in sorted(named):
        if name in ARRIVING["metrics"]:
            assert name not in exported, f"{name} exists now: remove it from ARRIVING"
            continue
        assert name in exported, f"the runbook names the metric {name}, which AIS does not export"


def test_every_log_line_the_runbook_names_is_one_ais_writes():
    # Every `snake_case` word the runbook quotes is a log event, except these (a PostgreSQL
    # setting, and a field of the `database_unavailable` line).
    not_events = {"max_connections", "error_type"}
    events = {word for word in re.findall(r"`([a-z]+(?:_[a-z]+)+)`", runbook())
              if word not in not_events and not word.startswith("ais_")}  # ais_…: metrics, tested above
    assert {"database_unavailable", "unhandled_exception", "redis_unavailable", "job_failed"} <= events, events
    source = "\n".join(path.read_text() for path in SRC.rglob("*.py"))
    for event in sorted(events):
        assert re.search(rf"\.(warning|info|error|exception)\(\s*\"{event}\"", source), \
            f"the runbook tells operators to look for `{event}`, which AIS never logs"


# --- the curl commands, run as written ---------------------------------------------------------


@pytest.fixture
def live_ais(settings: Settings, scratch_database) -> Iterator[tuple[str, Settings]]:
    """AIS on a real port, on a database of its own (maintenance mode switches a whole database)."""
    sock, url = reserve_socket()
    own = settings.model_copy(update={"database_url": scratch_database(), "redis_url": None, "public_base_url": url,
                                      "db_pool_size": 3, "db_max_overflow": 2})
    with serve(create_app(own), sock):
        yield url, own


def run_shell(command: str, env: dict[str, str]) -> tuple[int, str]:
    """One runbook command in bash, with the HTTP status appended to what curl prints."""
    result = subprocess.run(["bash", "-c", f"set -euo pipefail; {command} -w '\\n%{{http_code}}'"],
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, (command, result.stderr)
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")
async def test_the_runbooks_curl_commands_work_as_written(live_ais):
    url, own = live_ais
    commands = shell_commands(runbook())
    login = next(command for command in commands if command.startswith("ADMIN_TOKEN="))
    curls = [command for command in commands if command.startswith("curl ")]
    maintenance_on = next(c for c in curls if "-X PUT" in c and '"enabled": true' in c)
    maintenance_get = next(c for c in curls if "/maintenance" in c and "-X " not in c)
    maintenance_off = next(c for c in curls if "-X PUT" in c and '"enabled": false' in c)
    inbox = next(c for c in curls if "provider-events?processed=false" in c)
    replay = next(c for c in curls if "/replay" in c)
    assert set(curls) == {maintenance_on, maintenance_get, maintenance_off, inbox, replay}, "a curl left untested"

    runtime = create_runtime(own)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            admin = await new_user(http, runtime, admin=True)
            passenger = await new_user(http)
            flight = await new_flight(runtime)
            payload, headers = signed_event(own.stripe_webhook_secret or "")
            stored = await http.post("/webhooks/stripe", content=payload, headers=headers)
            assert stored.status_code == 200, stored.text
            env = {**os.environ, "AIS_URL": url, "ADMIN_EMAIL": admin.email, "ADMIN_PASSWORD": PASSWORD}
            token = (await asyncio.to_thread(
                subprocess.run, ["bash", "-c", f"set -euo pipefail; {login}; echo \"$ADMIN_TOKEN\""],
                capture_output=True, text=True, env=env, timeout=60, check=True)).stdout.strip()
            assert token.count(".") == 2, token  # a JWT
            env["ADMIN_TOKEN"] = token

            status, body = await asyncio.to_thread(run_shell, maintenance_on, env)
            assert status == 200 and '"enabled":true' in body, body
            status, body = await asyncio.to_thread(run_shell, maintenance_get, env)
            assert status == 200 and '"enabled":true' in body and "payment provider recovers" in body, body
            paused = assert_error(await book(http, passenger, flight), 503, "SERVICE_UNAVAILABLE")
            assert paused["details"]["retryAfterSeconds"] == 600

            status, body = await asyncio.to_thread(run_shell, maintenance_off, env)
            assert status == 200 and '"enabled":false' in body, body
            assert (await book(http, passenger, flight)).status_code == 201

            status, body = await asyncio.to_thread(run_shell, inbox, env)
            assert status == 200 and '"items"' in body, body
            event_id = re.search(r'"id"\s*:\s*"(evt_[^"]+)"', payload.decode())
            assert event_id
            status, body = await asyncio.to_thread(run_shell, replay, {**env, "EVENT_ID": event_id.group(1)})
            assert status == 200 and event_id.group(1) in body, body
    finally:
        await runtime.close()
