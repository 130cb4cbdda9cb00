"""Webhook storm: thousands of signed Stripe events, half of them duplicates, over HTTP against a
server on PostgreSQL; then the ledger check (0 duplicate entries, 0 missing charges).

Each booking gets two distinct events that describe the same money (`checkout.session.completed`
and `payment_intent.succeeded`, as Stripe sends them), and every event is sent twice, so the
ledger's uniqueness and the inbox's de-duplication both work under concurrency. Bookings and
their pending payments are inserted straight into the database first (the pay flow has its own
tests); the events are signed exactly as Stripe signs them, right before they are sent, and each
is sent exactly once by the raw client (in a load generator process).

    .venv/bin/python bench/webhook_storm.py [--bookings 1500] [--clients 16] [--workers 1]

bench/perf.py runs the same storm against the current code and the baseline commit.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import codebase
from harness.checks import check_ledger
from harness.database import database_name, scratch_database
from harness.load import LoadSpec
from harness.locations import run_async
from harness.phases import RunOptions, run_load
from harness.report import phase_table, rss_lines
from harness.sampling import Sampler
from harness.seeding import seed_pending_payments
from harness.servers import ServerSettings, server_environment, start_server, stop_server, work_directory
from harness.webhooks import payment_events, storm_requests

WEBHOOK_SECRET = "whsec_bench_" + uuid.uuid4().hex
TARGET_EVENTS_PER_SECOND = 1000


async def run(args: argparse.Namespace) -> int:
    code = codebase.current()
    sampler = Sampler().start()
    options = RunOptions(procs=args.loadgen_procs, rounds=1)
    try:
        with work_directory() as work:
            async with scratch_database(code, work) as dsn:
                payments = await seed_pending_payments(dsn, args.bookings)
                settings = ServerSettings(redis_db=args.redis_db, log_level=args.log_level,
                                          extra={"STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                                                 "STRIPE_SECRET_KEY": "sk_test_bench_" + uuid.uuid4().hex})
                env = server_environment(dsn, work / "data", settings)
                server = await start_server(code, "ais", "ais.app:create_app", env, args.workers, work)
                await sampler.attach_databases(database_name(dsn))
                try:
                    sampler.watch("ais", server.process.pid)
                    bodies, headers = storm_requests(payment_events(payments), WEBHOOK_SECRET)
                    spec = LoadSpec(kind="http", client="raw", clients=args.clients, base_url=server.base_url,
                                    method="POST", path="/webhooks/stripe", bodies=bodies, body_headers=headers,
                                    once=True, attempts=len(bodies))
                    phase = await run_load(spec, options, sampler, "webhook storm")
                finally:
                    stop_server(server)
                    await sampler.detach_databases()
                check = await check_ledger(dsn, [payment.booking_id for payment in payments])
    finally:
        options.close()
        sampler.stop()
    result = phase.result
    rate = result.requests / result.window if result.window else 0.0
    print("\n== webhook storm ==")
    print(f"server            {server.name}, {args.workers} worker(s), PostgreSQL, {args.clients} clients")
    print(f"events sent       {len(bodies)} ({len(bodies) // 2} distinct, 50% duplicates) in {result.window:.1f} s")
    print(f"throughput        {rate:,.0f} events/s   (target >= {TARGET_EVENTS_PER_SECOND:,}: "
          f"{'PASS' if rate >= TARGET_EVENTS_PER_SECOND else 'BELOW'})")
    print("\n".join(phase_table([phase], "ok/s")))
    print("\n".join(rss_lines(sampler, "ais", [phase.name])))
    print(f"ledger check      {check.describe()}")
    print(f"ledger            {'OK: 0 duplicates, 0 missing' if not check.errors else f'{check.errors} ERRORS'}")
    return 0 if not check.errors and not result.failures() else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=1500, help="bookings (2 events each, each sent twice)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loadgen-procs", type=int, default=1, help="load generator processes (default 1)")
    parser.add_argument("--redis-db", type=int, default=14, help="Redis database of the server (-1 = none)")
    parser.add_argument("--log-level", default=None, help="LOG_LEVEL of the server (default: the product's)")
    args = parser.parse_args()
    return int(run_async(run(args)))


if __name__ == "__main__":
    sys.exit(main())
