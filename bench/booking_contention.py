"""Booking contention: N concurrent clients booking one hot flight over HTTP, beside the raw
PostgreSQL ceiling for the same seat decrement, measured in the same run.

    .venv/bin/python bench/booking_contention.py [--clients 16] [--duration 10] [--workers 1]

Phases, each against its own cabin of a fresh scratch database:
  1. raw SQL, conditional update: `UPDATE cabins ... WHERE seats_available >= 1 RETURNING` + a
     booking INSERT in one transaction, one asyncpg connection per client (the ceiling);
  2. raw SQL, row lock: `SELECT ... FOR UPDATE`, then UPDATE + INSERT (the alternative strategy);
  3. HTTP `POST /api/v1/bookings` on a 1,000,000-seat cabin (throughput, never sells out);
  4. HTTP contention: a 50-seat cabin, 400 attempts of 1-3 passengers at once, which must sell
     exactly what it has and never more.
After the run the database is checked: seats_available + seats of held/sold bookings ==
capacity, seats_available >= 0, and no more bookings than capacity.
Target: HTTP bookings/s >= 50% of the raw conditional-update ceiling.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import codebase
from harness.api import booking_body, register_users
from harness.checks import CabinCheck, check_cabin
from harness.database import database_name, scratch_database
from harness.load import LoadSpec
from harness.locations import run_async
from harness.options import common_arguments, run_options, server_settings
from harness.phases import Phase, PhasePlan, run_load, run_phases
from harness.report import describe_setup, noise_lines, phase_table, rss_lines
from harness.sampling import Sampler
from harness.seeding import SeededFlight, seed_flights, user_ids
from harness.servers import Server, server_environment, start_server, stop_server, work_directory

TARGET_RATIO = 0.50
HOT_SEATS = 1_000_000


async def run(args: argparse.Namespace) -> int:
    sampler = Sampler().start()
    code = codebase.current()
    try:
        with work_directory() as work:
            async with scratch_database(code, work, args.keep_db) as dsn:
                raw_cond, raw_lock, raw_last, hot, small = await seed_flights(dsn, [
                    {"capacity": HOT_SEATS}, {"capacity": HOT_SEATS}, {"capacity": HOT_SEATS},
                    {"capacity": HOT_SEATS}, {"capacity": args.contention_seats},
                ])
                env = server_environment(dsn, work / "data", server_settings(args))
                server = await start_server(code, args.server, "ais.app:create_app", env, args.workers, work)
                await sampler.attach_databases(database_name(dsn))
                try:
                    sampler.watch("ais", server.process.pid)
                    return await _phases(args, dsn, server, sampler, raw_cond, raw_lock, raw_last, hot, small)
                finally:
                    stop_server(server)
                    await sampler.detach_databases()
    finally:
        sampler.stop()


async def _phases(args: argparse.Namespace, dsn: str, server: Server, sampler: Sampler,
                  raw_cond: SeededFlight, raw_lock: SeededFlight, raw_last: SeededFlight, hot: SeededFlight,
                  small: SeededFlight) -> int:
    tokens = await register_users(server.base_url, args.users)
    users = await user_ids(dsn)
    options = run_options(args)
    common = {"clients": args.clients, "duration": args.duration, "warmup": args.warmup}
    progress = print if args.verbose else (lambda *_: None)

    def sql(kind: str, flight: SeededFlight, prefix: str) -> LoadSpec:
        return LoadSpec(kind=kind, dsn=dsn, cabin_id=flight.cabin_id, flight_id=flight.flight_id, user_ids=users,
                        reference_prefix=prefix, **common)

    http = LoadSpec(kind="http", client=args.loadgen, base_url=server.base_url, method="POST",
                    path="/api/v1/bookings", bodies=[booking_body(hot, 1)], tokens=tokens, idempotency=True,
                    **common)
    plans = [
        PhasePlan("raw SQL: conditional UPDATE, INSERT", sql("sql_cond", raw_cond, "0")),
        PhasePlan("raw SQL: SELECT FOR UPDATE, UPDATE, INSERT", sql("sql_lock", raw_lock, "1")),
    ]
    if not args.skip_decrement_last:
        plans.append(PhasePlan("raw SQL: INSERT, conditional UPDATE last", sql("sql_cond_last", raw_last, "2")))
    plans.append(PhasePlan("HTTP POST /api/v1/bookings (1 pax)", http, profile_label="ais"))
    try:
        progress(f"{len(plans)} phases x {args.rounds} rounds")
        phases = await run_phases(plans, options, sampler)
        progress("HTTP: contention on a small cabin")
        # A fixed number of attempts, which wrk (it runs for a duration) cannot do: the raw client.
        client = "raw" if args.loadgen == "wrk" else args.loadgen
        contention = LoadSpec(kind="http", client=client, base_url=server.base_url, method="POST",
                              path="/api/v1/bookings", bodies=[booking_body(small, n) for n in (1, 2, 3)],
                              tokens=tokens, idempotency=True, clients=args.contention_clients,
                              attempts=args.contention_attempts)
        contended = await run_load(contention, options, sampler,
                                   f"HTTP contention: {args.contention_seats} seats, {args.contention_attempts} tries")
    finally:
        options.close()

    checks = [
        await check_cabin(dsn, raw_cond.cabin_id, "raw conditional cabin"),
        await check_cabin(dsn, raw_lock.cabin_id, "raw row-lock cabin"),
        *([] if args.skip_decrement_last else [await check_cabin(dsn, raw_last.cabin_id,
                                                                 "raw decrement-last cabin")]),
        await check_cabin(dsn, hot.cabin_id, "HTTP hot cabin"),
        await check_cabin(dsn, small.cabin_id, f"HTTP contention cabin ({args.contention_seats})"),
    ]
    return _summary(args, server, sampler, phases, contended, checks)


def _summary(args: argparse.Namespace, server: Server, sampler: Sampler, phases: list[Phase], contended: Phase,
             checks: list[CabinCheck]) -> int:
    raw_cond, raw_lock, http = phases[0], phases[1], phases[-1]
    small = checks[-1]
    created = contended.result.statuses.get("201", 0)
    refused = contended.result.codes.get("SEATS_UNAVAILABLE", 0)
    other = sum(contended.result.statuses.values()) - created - contended.result.statuses.get("409", 0)
    sold_out = small.seats_available == 0 or refused > 0
    oversold = sum(check.oversold for check in checks)
    broken = [check.label for check in checks if not check.consistent]
    ratio = http.result.rate / raw_cond.result.rate if raw_cond.result.rate else 0.0
    lock_ratio = raw_cond.result.rate / raw_lock.result.rate if raw_lock.result.rate else 0.0
    errors_ok = all(status.startswith("2") for status in http.result.statuses)
    strategy_lines = [
        f"  conditional UPDATE vs SELECT FOR UPDATE (raw ceiling): {raw_cond.result.rate:.0f} vs "
        f"{raw_lock.result.rate:.0f} bookings/s = {lock_ratio:.2f}x",
    ]
    if len(phases) == 4:
        last = phases[2]
        strategy_lines.append(
            f"  conditional UPDATE as the last statement (INSERT first): {last.result.rate:.0f} bookings/s = "
            f"{last.result.rate / raw_cond.result.rate if raw_cond.result.rate else 0:.2f}x the UPDATE-first order")

    lines = [
        "",
        "=" * 110,
        "AIS booking contention benchmark",
        *describe_setup(args, server),
        "",
        *phase_table(phases, "ok/s"),
        "",
        f"  contention: {args.contention_attempts} attempts of 1-3 passengers by {args.contention_clients} clients "
        f"on {args.contention_seats} seats: 201 x{created}, 409 SEATS_UNAVAILABLE x{refused}, other x{other}; "
        f"p50 {contended.result.latency_ms(0.5):.1f} ms, p95 {contended.result.latency_ms(0.95):.1f} ms",
        f"  seats sold in the contention cabin: {small.seats_held_or_sold} of {small.capacity} in {small.bookings} "
        f"bookings ({'sold out' if sold_out else 'NOT sold out'})",
        "",
        "  database checks after the run (seats_available + held/sold seats == capacity, no negative seats, "
        "bookings <= capacity):",
        *(check.describe() for check in checks),
        f"  OVERSOLD: {oversold}  {'PASS' if oversold == 0 and not broken else 'FAIL ' + ', '.join(broken)}",
        "",
        *strategy_lines,
        f"  HTTP bookings/s {http.result.rate:.1f} / raw ceiling {raw_cond.result.rate:.1f} = {ratio:.1%} "
        f"(target >= {TARGET_RATIO:.0%}): {'PASS' if ratio >= TARGET_RATIO else 'BELOW'}",
        f"  HTTP errors during the throughput phase: {http.result.errors()}{'' if errors_ok else '  (!)'}",
        *rss_lines(sampler, "ais", [phase.name for phase in [*phases, contended]]),
        *noise_lines([*phases]),
        *http.profile,
        "=" * 110,
    ]
    print("\n".join(lines))
    failed = oversold or broken or not sold_out or other
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_arguments(parser)
    parser.add_argument("--users", type=int, default=4, help="registered users the clients share (default 4)")
    parser.add_argument("--contention-seats", type=int, default=50)
    parser.add_argument("--contention-attempts", type=int, default=400)
    parser.add_argument("--contention-clients", type=int, default=50)
    parser.add_argument("--skip-decrement-last", action="store_true",
                        help="skip the third raw strategy (INSERT first, conditional UPDATE last)")
    args = parser.parse_args()
    return run_async(run(args))


if __name__ == "__main__":
    sys.exit(main())
