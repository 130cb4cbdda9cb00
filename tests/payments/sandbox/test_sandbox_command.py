"""`ais sandbox`: the payment sandbox as its own server process (SPEC §11), run as a real
subprocess on a free port, with the AIS API pointed at it through `STRIPE_API_BASE`."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
import stripe

from ais.app import create_app
from ais.config import Settings
from tests.factories import book, new_flight, new_user
from tests.fixtures.payment_flow import open_checkout, wait_for_status
from tests.payments.sandbox.serving import reserve_socket, serve, unused_url
from tests.payments.sandbox.support import SECRET_KEY, WEBHOOK_SECRET, Receiver, eventually, session_params

AIS = str(Path(sys.executable).with_name("ais"))
# What the machine running the suite exports must not leak into the command's settings.
_OWN_SETTINGS = ("AIS_", "DATABASE_URL", "REDIS_URL", "STRIPE_", "SANDBOX_", "PUBLIC_BASE_URL", "JWT_SECRET",
                 "REFRESH_TOKEN_PEPPER", "SMTP_URL", "SENTRY_DSN", "LOG_LEVEL")


def command_env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(_OWN_SETTINGS)}
    env.update(AIS_DATA_DIR=str(data_dir), LOG_LEVEL="WARNING", **settings)
    return env


@dataclass
class SandboxProcess:
    url: str
    process: subprocess.Popen[str]

    @property
    def api_base(self) -> str:
        return f"{self.url}/_sandbox/stripe"


@contextmanager
def sandbox_process(tmp_path: Path, *options: str, **settings: str) -> Iterator[SandboxProcess]:
    """`ais sandbox --port P [options]` until the block ends (then SIGTERM, which must exit cleanly)."""
    port = int(unused_url().rsplit(":", 1)[1])
    process = subprocess.Popen([AIS, "sandbox", "--port", str(port), *options], cwd=tmp_path, text=True,
                               env=command_env(tmp_path / "var", **settings),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    running = SandboxProcess(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"ais sandbox exited {process.returncode}: {process.communicate()[0]}"
            try:
                if httpx.get(f"{running.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "ais sandbox did not answer /health in 30 s"
            time.sleep(0.1)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            output = process.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0]
            raise AssertionError(f"ais sandbox ignored SIGTERM:\n{output}") from None
    assert process.returncode == 0, output
    assert "Traceback" not in output, output


def run_command(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIS, "sandbox", *args], cwd=tmp_path, env=command_env(tmp_path / "var", **settings),
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def sandbox_store(sandbox_postgres_url: str | None) -> Iterator[dict[str, str]]:
    """`SANDBOX_DATABASE_URL` for the pass: a PostgreSQL database of its own in the PostgreSQL
    pass (the command's default schema in it), the default SQLite file in the data dir otherwise."""
    if sandbox_postgres_url is None:
        yield {}
        return
    with psycopg.connect(sandbox_postgres_url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS stripe_sandbox CASCADE")
    yield {"SANDBOX_DATABASE_URL": sandbox_postgres_url}


async def test_api_pays_through_a_sandbox_server_on_another_port(settings: Settings, runtime, tmp_path: Path,
                                                                  sandbox_store: dict[str, str]) -> None:
    sock, api_url = reserve_socket()
    with sandbox_process(tmp_path, STRIPE_SECRET_KEY=settings.stripe_secret_key or "",
                         STRIPE_WEBHOOK_SECRET=settings.stripe_webhook_secret or "",
                         PUBLIC_BASE_URL=api_url,  # the webhooks' default destination
                         **sandbox_store) as sandbox:
        api_settings = settings.model_copy(update={"public_base_url": api_url, "stripe_api_base": sandbox.api_base,
                                                   "sandbox_webhook_delivery": "on"})
        with serve(create_app(api_settings), sock):
            async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
                user = await new_user(http)
                flight = await new_flight(runtime, economy_fare_minor=52500)
                paid = (await book(http, user, flight)).json()
                declined = (await book(http, user, flight)).json()

                checkout = await open_checkout(http, user, paid["id"])
                assert checkout["checkoutUrl"].startswith(f"{sandbox.url}/_sandbox/checkout/cs_test_")
                page = await http.get(checkout["checkoutUrl"])
                assert page.status_code == 200 and "525.00" in page.text
                answer = await http.post(checkout["checkoutUrl"], data={"outcome": "succeeded"})
                # Back to the API's own page, on the API's port, with the session id filled in.
                assert answer.status_code == 303, answer.text
                back = urlsplit(answer.headers["location"])
                assert f"{back.scheme}://{back.netloc}{back.path}" == f"{api_url}/payments/success"
                assert parse_qs(back.query) == {"booking": [paid["id"]], "session_id": [checkout["sessionId"]]}
                assert (await http.get(answer.headers["location"])).status_code == 200

                # The sandbox process delivers the signed events to the API, which confirms the booking.
                confirmed = await wait_for_status(http, user, paid["id"], "confirmed", timeout=20)
                assert confirmed["status"] == "confirmed", confirmed["statusHistory"]

                other = await open_checkout(http, user, declined["id"])
                answer = await http.post(other["checkoutUrl"], data={"outcome": "declined"})
                assert answer.status_code == 303
                assert answer.headers["location"] == f"{api_url}/payments/cancelled?booking={declined['id']}"

                # Outside production the API keeps its own sandbox mounted, unused here.
                own = await http.get("/_sandbox/checkout/cs_test_unknown")
                assert own.status_code == 404 and "Checkout not found" in own.text

    if sandbox_store:  # the state is in PostgreSQL, in the sandbox's own schema
        with psycopg.connect(sandbox_store["SANDBOX_DATABASE_URL"]) as connection:
            kinds = dict(connection.execute(
                "SELECT object, count(*) FROM stripe_sandbox.objects GROUP BY object").fetchall())
        assert kinds["checkout.session"] == 2 and kinds["charge"] == 2  # one paid, one declined
    else:
        assert (tmp_path / "var" / "sandbox-server.db").is_file()


async def test_events_go_to_sandbox_webhook_url_signed_with_the_webhook_secret(
        tmp_path: Path, sandbox_store: dict[str, str], start_receiver: Callable[..., Receiver]) -> None:
    """On PostgreSQL with two worker processes: each event still reaches the endpoint once."""
    receiver = start_receiver()
    workers = ("--workers", "2") if sandbox_store else ()
    with sandbox_process(tmp_path, *workers, STRIPE_SECRET_KEY=SECRET_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                         SANDBOX_WEBHOOK_URL=receiver.url, **sandbox_store) as sandbox:
        http_client = stripe.HTTPXClient()
        client = stripe.StripeClient(api_key=SECRET_KEY, base_addresses={"api": sandbox.api_base},
                                     http_client=http_client)
        try:
            async with httpx.AsyncClient() as browser:
                for _ in range(4):
                    session = await client.v1.checkout.sessions.create_async(params=session_params())
                    answer = await browser.post(session.url, data={"outcome": "succeeded"})
                    assert answer.status_code == 303
            await eventually(lambda: len(receiver.received) >= 12, within=20)
            await asyncio.sleep(0.5)  # time for a duplicate to show up, if there were one
        finally:
            await http_client.close_async()
    events = [stripe.Webhook.construct_event(body, headers["stripe-signature"], WEBHOOK_SECRET)
              for body, headers in receiver.received]
    assert len({event.id for event in events}) == len(events) == 12
    assert collections.Counter(event.type for event in events) == {
        "charge.succeeded": 4, "payment_intent.succeeded": 4, "checkout.session.completed": 4}


@pytest.mark.parametrize(("settings", "says"), [
    ({"AIS_ENV": "production"}, "AIS_ENV=production"),
    ({"STRIPE_SECRET_KEY": "sk_live_51Habcdefghijklmnop"}, "live key"),
    ({"STRIPE_SECRET_KEY": "rk_live_51Habcdefghijklmnop"}, "live key"),
    ({"SANDBOX_DATABASE_URL": "mysql://db/sandbox"}, "SANDBOX_DATABASE_URL"),
    ({"SANDBOX_WEBHOOK_URL": "ftp://example.com/hook"}, "SANDBOX_WEBHOOK_URL"),
])
def test_refused_settings_exit_2_with_one_line(tmp_path: Path, settings: dict[str, str], says: str) -> None:
    result = run_command(tmp_path, "--port", "1", **settings)  # refused before it would try to listen
    assert result.returncode == 2, result
    assert says in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_several_workers_need_a_postgresql_store(tmp_path: Path) -> None:
    result = run_command(tmp_path, "--port", "1", "--workers", "2")  # the default store: SQLite
    assert result.returncode == 2, result
    assert "PostgreSQL" in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr


def test_a_busy_port_exits_2(tmp_path: Path) -> None:
    sock, url = reserve_socket()
    sock.listen()
    try:
        result = run_command(tmp_path, "--port", url.rsplit(":", 1)[1])
    finally:
        sock.close()
    assert result.returncode == 2, result
    assert "busy" in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
