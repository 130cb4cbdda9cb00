"""Restore drill (SPEC §10, §11): a database with payments, refunds and audit entries is backed up
with `ais backup FILE`, restored into a fresh empty database with `ais restore FILE --yes` (the
real command, as an operator runs it), and the two are compared: every table's row count, the
ledger totals per currency, and a booking read through the API of each.

On PostgreSQL this is pg_dump/pg_restore; the SQLite pass runs the same drill on files."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import stripe
from sqlalchemy import func, inspect, select, text

from ais.app import create_app
from ais.config import Settings
from ais.ledger.models import LedgerEntry
from ais.runtime import Runtime
from ais.wiring import create_runtime
from tests import factories
from tests.factories import book, new_flight, new_user
from tests.fixtures.payment_flow import Live, booking_events, paid_booking
from tests.fixtures.services import AIS_COMMAND, ais_environment
from tests.payments.sandbox.serving import reserve_socket, serve
from tests.payments.support import admin_refund, cancel, deliver_all

# The drill is worth nothing unless these hold rows.
MUST_HAVE_ROWS = ("users", "bookings", "payments", "refunds", "ledger_entries", "audit_log", "stripe_events")


@contextmanager
def live_on(settings: Settings) -> Iterator[Live]:
    """The app with its sandbox on a real port (the stripe SDK inside talks to it over HTTP)."""
    sock, url = reserve_socket()
    live_settings = settings.model_copy(update={"public_base_url": url, "sandbox_webhook_delivery": "off"})
    with serve(create_app(live_settings), sock):
        yield Live(url=url, settings=live_settings)


def run_ais(*args: str, database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(AIS_COMMAND), *args], env=ais_environment(database_url=database_url, ais_data_dir=data_dir),
        cwd=data_dir, capture_output=True, text=True, timeout=180, check=False,
    )
    assert result.returncode == 0, f"ais {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr
    return result


async def snapshot(database_url: str) -> dict[str, Any]:
    """Every table's row count, and the ledger's count and sum per currency and entry type."""
    runtime = create_runtime(Settings(_env_file=None, database_url=database_url,  # type: ignore[call-arg]
                                      db_pool_size=1, db_max_overflow=0))
    try:
        async with runtime.engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            counts = {table: (await connection.execute(text(f'SELECT count(*) FROM "{table}"'))).scalar_one()
                      for table in sorted(tables)}
            ledger = (await connection.execute(
                select(LedgerEntry.currency, LedgerEntry.type, func.count(), func.sum(LedgerEntry.amount_minor))
                .group_by(LedgerEntry.currency, LedgerEntry.type)
            )).all()
    finally:
        await runtime.close()
    totals = {(currency, str(kind)): (int(count), int(amount)) for currency, kind, count, amount in ledger}
    return {"tables": counts, "ledger": totals}


async def read_booking(settings: Settings, user: factories.TestUser, booking_id: str) -> dict[str, Any]:
    app = create_app(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            response = await http.get(f"/api/v1/bookings/{booking_id}", headers=user.headers)
            assert response.status_code == 200, response.text
            return response.json()  # type: ignore[no-any-return]
    finally:
        await app.state.runtime.close()


async def fill_with_money(live: Live, runtime: Runtime) -> tuple[factories.TestUser, str]:
    """Paid bookings in two currencies, a cancel after payment (a full refund), an admin's partial
    refund, an unpaid hold: payments, refunds, ledger entries, provider events and audit entries."""
    sdk = stripe.StripeClient(api_key=live.settings.stripe_secret_key or "",
                              base_addresses={"api": f"{live.url}/_sandbox/stripe"}, http_client=stripe.HTTPXClient())
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        admin = await new_user(http, runtime, admin=True)
        user = await new_user(http)
        riyadh = await new_flight(runtime, economy_seats=10)
        dubai = await new_flight(runtime, origin="DXB", destination="KWI", economy_seats=10, currency="USD",
                                 economy_fare_minor=12050)
        kept = await paid_booking(http, live, sdk, runtime, user, riyadh, count=2)
        await paid_booking(http, live, sdk, runtime, user, dubai)
        cancelled = await paid_booking(http, live, sdk, runtime, user, riyadh)
        assert (await cancel(http, user, cancelled["id"])).status_code == 200
        partly = await paid_booking(http, live, sdk, runtime, user, dubai, count=2)
        assert (await admin_refund(http, admin, partly["id"], amount="50.00")).status_code in (200, 201, 202)
        assert (await book(http, user, riyadh)).status_code == 201
        for booking_id in (cancelled["id"], partly["id"]):
            codes = await deliver_all(http, live, await booking_events(sdk, booking_id, types=("charge.refunded",)))
            assert codes and set(codes) == {200}, codes
    return user, kept["id"]


async def test_backup_then_restore_into_a_fresh_database_keeps_every_row_and_the_ledger(
        settings, scratch_database, tmp_path):
    source_url, target_url = scratch_database(), scratch_database(migrated=False)
    source = settings.model_copy(update={"database_url": source_url, "ais_data_dir": tmp_path / "source"})
    runtime = create_runtime(source)
    try:
        with live_on(source) as live:
            user, booking_id = await fill_with_money(live, runtime)
    finally:
        await runtime.close()
    before = await snapshot(source_url)
    for table in MUST_HAVE_ROWS:
        assert before["tables"][table] > 0, f"the drill database has no {table}"
    assert {currency for currency, _ in before["ledger"]} == {"SAR", "USD"}
    assert {kind for _, kind in before["ledger"]} >= {"charge", "refund", "partial_refund"}

    backup = tmp_path / "backups" / "ais.backup"
    run_ais("backup", str(backup), database_url=source_url, data_dir=tmp_path)
    assert backup.stat().st_size > 0
    run_ais("restore", str(backup), "--yes", database_url=target_url, data_dir=tmp_path)

    after = await snapshot(target_url)
    assert after["tables"] == before["tables"]
    assert after["ledger"] == before["ledger"]
    target = source.model_copy(update={"database_url": target_url})
    assert await read_booking(target, user, booking_id) == await read_booking(source, user, booking_id)

