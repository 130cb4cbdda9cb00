"""The performance issue's measurements in one run, each beside a reference measured in the same
run on the same machine, with the ratio and the target:

  1. hot-flight booking (`POST /api/v1/bookings`, one passenger, one cabin that never sells out)
     at 8 and 64 clients, `ais serve --workers 2` on PostgreSQL, against
     (a) the raw ceiling: pgbench running the same hot-row conditional UPDATE + a booking INSERT,
         4 clients, durable commits, and
     (b) the BASELINE commit (--baseline, default e3755f6) built into bench/.cache and run with
         the same settings; then the oversold check of every cabin used;
  2. the webhook storm (signed Stripe events, 50% duplicates) against both, then the ledger check;
  3. uncached search (`Cache-Control: no-store`) against the one-query FastAPI endpoint, and cached
     search against a constant-JSON FastAPI endpoint (bench/bare_app.py), at 64 connections;
  4. the RSS of every server worker under that load.

    .venv/bin/python bench/perf.py            # ~5 minutes (the first run also builds the baseline)
    .venv/bin/python bench/perf.py --quick    # ~2 minutes, for a smoke test; figures are rougher

HTTP load comes from wrk (C; bench/wrk/load.lua gives every booking a fresh Idempotency-Key and
rotates the users' tokens), so the load generator takes little of the 2 cores; `--loadgen raw`
uses the Python raw client in separate processes instead. The webhook storm sends a fixed list of
signed events exactly once each, which is what the raw client does (wrk runs for a duration).
Exit status 1 when a correctness check fails (oversold, ledger, errors from the current code),
and with --require-targets also when a target is NOT MET.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import codebase as codebases
from harness.api import booking_body, register_users, seed_search_flights
from harness.checks import CabinCheck, LedgerCheck, check_cabin, check_ledger
from harness.codebase import Codebase
from harness.database import database_name, scratch_database
from harness.load import LoadSpec
from harness.locations import BENCH_DIR, run_async
from harness.options import common_arguments, run_options, server_settings
from harness.pgbench import pgbench_binary, prepare
from harness.phases import Phase, PhasePlan, RunOptions, combine_rounds, run_load, run_phases
from harness.report import (
    RSS_LIMIT_MB,
    Target,
    describe_setup,
    machine_lines,
    noise_lines,
    phase_table,
    rss_lines,
    target_table,
    worker_rss,
)
from harness.sampling import Sampler
from harness.seeding import PendingPayment, SeededFlight, seed_demo, seed_flights, seed_pending_payments, user_ids
from harness.servers import Server, server_environment, start_server, stop_server, work_directory
from harness.webhooks import payment_events, storm_requests
from harness.wrk import require_wrk

HOT_SEATS = 1_000_000
BOOKING_CLIENTS = (8, 64)
PGBENCH_CLIENTS = 4
WEBHOOK_SECRET = "whsec_bench_" + uuid.uuid4().hex
BARE_QUERY, BARE_CONSTANT = "bare FastAPI: one 5-row query", "bare FastAPI: constant JSON"
# Targets of the performance issue.
BOOKING_TIMES_BASELINE = 4.0
BOOKING_SHARE_OF_PGBENCH = 0.25
BOOKING_P95_MS_AT_64 = 150.0
UNCACHED_SHARE = 0.80
UNCACHED_P99_MS = 100.0
CACHED_SHARE = 0.50
WEBHOOK_EVENTS_PER_SECOND = 1000.0


@dataclass
class Side:
    """One codebase under test: its database, seeded flights, server and users."""

    code: Codebase
    dsn: str = ""
    hot: SeededFlight | None = None
    payments: list[PendingPayment] = field(default_factory=list)
    server: Server | None = None
    tokens: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.code.label

    @property
    def name(self) -> str:
        return f"{self.code.label} {self.code.revision}"


@dataclass
class Outcome:
    booking: list[Phase] = field(default_factory=list)
    cabins: list[CabinCheck] = field(default_factory=list)
    storms: dict[str, Phase] = field(default_factory=dict)
    ledgers: dict[str, LedgerCheck] = field(default_factory=dict)
    search: list[Phase] = field(default_factory=list)
    search_answer: str = ""


class Progress:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:5.0f} s] {message}", flush=True)


def booking_phase(side: Side, clients: int) -> str:
    return f"{side.name}: POST /bookings, {clients} clients"


async def run(args: argparse.Namespace) -> int:
    progress = Progress()
    if args.loadgen == "wrk":
        require_wrk()
    pgbench_binary()
    sides = [Side(codebases.current())]
    if args.baseline != "none":
        sides.append(Side(codebases.baseline(args.baseline, progress)))
    sampler = Sampler().start()
    options = run_options(args)
    try:
        with work_directory() as work:
            try:
                return await _measure(args, sides, work, sampler, options, progress)
            finally:
                _keep_logs(args, work)
    finally:
        options.close()
        sampler.stop()


async def _measure(args: argparse.Namespace, sides: list[Side], work: Path, sampler: Sampler, options: RunOptions,
                   progress: Progress) -> int:
    async with contextlib.AsyncExitStack() as stack:
        for side in sides:
            progress(f"scratch database for {side.name}: migrating with its own `ais db upgrade`, seeding")
            side.dsn = await stack.enter_async_context(scratch_database(side.code, work, args.keep_db))
            await _seed(side, work, args.storm_bookings)
        search_path = await seed_search_flights(sides[0].dsn)
        [pg_flight] = await seed_flights(sides[0].dsn, [{"capacity": HOT_SEATS, "number": "ZZ9100"}])
        await prepare(sides[0].dsn)
        await sampler.attach_databases(*(database_name(side.dsn) for side in sides))
        stack.push_async_callback(sampler.detach_databases)
        progress(f"starting {len(sides)} server(s) (ais serve --workers {args.workers}) and registering "
                 f"{args.users} users on each")
        stack.callback(_stop_servers, sides)
        # Every start finishes (or fails) before an error is raised, so none is left running.
        for failure in await asyncio.gather(*(_start(side, args, work, sampler) for side in sides),
                                            return_exceptions=True):
            if isinstance(failure, BaseException):
                raise failure
        outcome = Outcome()
        await _bookings(args, sides, pg_flight, options, sampler, outcome, progress)
        await _storms(args, sides, options, sampler, outcome, progress)
        for side in sides[1:]:
            progress(f"stopping the {side.label} server")
            assert side.server is not None
            stop_server(side.server)
        await _search(args, sides[0], search_path, work, options, sampler, outcome, progress)
        progress("done")
        return _summary(args, sides, outcome, sampler)


def _keep_logs(args: argparse.Namespace, work: Path) -> None:
    """The servers' logs (one JSON line per request, and any error) outlive the work directory."""
    if args.keep_logs is None:
        return
    args.keep_logs.mkdir(parents=True, exist_ok=True)
    for log in sorted(work.glob("server-*.log")):
        shutil.copy(log, args.keep_logs / log.name)
    print(f"server logs kept in {args.keep_logs}")


def _stop_servers(sides: list[Side]) -> None:
    for side in sides:
        if side.server is not None:
            stop_server(side.server)


async def _seed(side: Side, work: Path, storm_bookings: int) -> None:
    await seed_demo(side.code, side.dsn, work)
    [side.hot] = await seed_flights(side.dsn, [{"capacity": HOT_SEATS, "number": "ZZ9000"}])
    side.payments = await seed_pending_payments(side.dsn, storm_bookings)


async def _start(side: Side, args: argparse.Namespace, work: Path, sampler: Sampler) -> None:
    settings = server_settings(args)
    settings = dataclasses.replace(settings, extra={**settings.extra, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                                                    "STRIPE_SECRET_KEY": "sk_test_bench_" + uuid.uuid4().hex})
    env = server_environment(side.dsn, work / f"data-{side.label}", settings)
    side.server = await start_server(side.code, args.server, "ais.app:create_app", env, args.workers, work)
    sampler.watch(side.label, side.server.process.pid)
    side.tokens = await register_users(side.server.base_url, args.users, prefix=f"bench-{side.label}")


async def _bookings(args: argparse.Namespace, sides: list[Side], pg_flight: SeededFlight, options: RunOptions,
                    sampler: Sampler, outcome: Outcome, progress: Progress) -> None:
    current = sides[0]
    pg_users = await user_ids(current.dsn)
    common = {"duration": args.duration, "warmup": args.warmup, "timeout": 30.0}
    plans = [PhasePlan(f"pgbench: hot-row UPDATE + INSERT, {PGBENCH_CLIENTS} clients", LoadSpec(
        kind="pgbench", clients=PGBENCH_CLIENTS, dsn=current.dsn, cabin_id=pg_flight.cabin_id,
        flight_id=pg_flight.flight_id, user_ids=pg_users, database=database_name(current.dsn), **common))]
    for clients in BOOKING_CLIENTS:
        for side in sides:
            assert side.server is not None and side.hot is not None
            spec = LoadSpec(kind="http", client=args.loadgen, clients=clients, base_url=side.server.base_url,
                            method="POST", path="/api/v1/bookings", bodies=[booking_body(side.hot)],
                            tokens=side.tokens, idempotency=True, database=database_name(side.dsn), **common)
            plans.append(PhasePlan(booking_phase(side, clients), spec, profile_label=side.label))
    progress(f"hot-flight booking: {len(plans)} phases x {args.rounds} round(s) of {args.duration / args.rounds:g} s")
    outcome.booking = await run_phases(plans, options, sampler)
    for side in sides:
        assert side.hot is not None
        outcome.cabins.append(await check_cabin(side.dsn, side.hot.cabin_id, f"{side.name} hot cabin"))
    outcome.cabins.append(await check_cabin(current.dsn, pg_flight.cabin_id, "pgbench hot cabin"))


async def _storms(args: argparse.Namespace, sides: list[Side], options: RunOptions, sampler: Sampler,
                  outcome: Outcome, progress: Progress) -> None:
    """Each side's events in `rounds` slices, the sides interleaved (A B A B) like the other phases,
    each slice signed right before it is sent."""
    rounds = max(1, args.rounds)
    events = {side.label: payment_events(side.payments) for side in sides}
    progress(f"webhook storm: {4 * args.storm_bookings} signed events (50% duplicates) per server in {rounds} "
             f"round(s), {args.storm_clients} clients")
    parts: dict[str, list[Phase]] = {side.label: [] for side in sides}
    shuffled = {label: storm_requests(payloads, WEBHOOK_SECRET)[0] for label, payloads in events.items()}
    for round_index in range(rounds):
        for side in sides:
            assert side.server is not None
            bodies, headers = storm_requests(shuffled[side.label][round_index::rounds], WEBHOOK_SECRET, shuffle=False)
            spec = LoadSpec(kind="http", client="raw", clients=args.storm_clients, base_url=side.server.base_url,
                            method="POST", path="/webhooks/stripe", bodies=bodies, body_headers=headers, once=True,
                            attempts=len(bodies), database=database_name(side.dsn), timeout=60.0)
            parts[side.label].append(await run_load(spec, options, sampler, f"{side.name}: webhook storm"))
    for side in sides:
        outcome.storms[side.label] = combine_rounds(f"{side.name}: webhook storm", parts[side.label])
        outcome.ledgers[side.label] = await check_ledger(side.dsn, [p.booking_id for p in side.payments])


async def _search(args: argparse.Namespace, side: Side, path: str, work: Path, options: RunOptions,
                  sampler: Sampler, outcome: Outcome, progress: Progress) -> None:
    import httpx

    assert side.server is not None
    async with httpx.AsyncClient(base_url=side.server.base_url, timeout=30) as client:
        # Answered from the database and written back to the cache: also replaces any entry that
        # an earlier run (another scratch database) left for the same route-day in this Redis db.
        answer = await client.get(path, headers={"Cache-Control": "no-cache"})
    answer.raise_for_status()
    outcome.search_answer = f"{len(answer.json().get('flights', []))} flights, {len(answer.content)} bytes"
    constant = work / "search-answer.json"
    constant.write_bytes(answer.content)
    env = server_environment(side.dsn, work / "data-bare", server_settings(args))
    env.update({"PYTHONPATH": str(BENCH_DIR), "BENCH_CONSTANT_JSON": str(constant)})
    progress(f"starting the bare FastAPI app (uvicorn --workers {args.workers})")
    bare = await start_server(side.code, "uvicorn", "bare_app:create_app", env, args.workers, work)
    try:
        sampler.watch("bare", bare.process.pid)
        common = {"kind": "http", "client": args.loadgen, "clients": args.search_clients, "duration": args.duration,
                  "warmup": args.warmup, "database": database_name(side.dsn)}
        plans = [
            PhasePlan(BARE_QUERY, LoadSpec(base_url=bare.base_url, path="/bare/flights", **common)),
            PhasePlan(f"{side.name}: search, no-store", LoadSpec(
                base_url=side.server.base_url, path=path, headers={"Cache-Control": "no-store"},
                **common), profile_label=side.label),
            PhasePlan(BARE_CONSTANT, LoadSpec(base_url=bare.base_url, path="/bare/constant", **common)),
            PhasePlan(f"{side.name}: search, cached", LoadSpec(base_url=side.server.base_url, path=path, **common),
                      profile_label=side.label),
        ]
        progress(f"search: {len(plans)} phases x {args.rounds} round(s) of {args.duration / args.rounds:g} s, "
                 f"{args.search_clients} connections")
        outcome.search = await run_phases(plans, options, sampler)
    finally:
        stop_server(bare)


def _latencies(phase: Phase | None) -> str:
    if phase is None:
        return "not measured"
    r = phase.result
    return f"p50 {r.latency_ms(0.5):.1f} / p95 {r.latency_ms(0.95):.1f} / p99 {r.latency_ms(0.99):.1f} ms"


def _rate(phase: Phase | None) -> float | None:
    return phase.result.rate if phase is not None else None


def _targets(sides: list[Side], outcome: Outcome, sampler: Sampler) -> list[Target]:
    current = sides[0]
    baseline = sides[1] if len(sides) > 1 else None
    base_name = baseline.name if baseline else "baseline (not run)"
    phases = {phase.name: phase for phase in outcome.booking}
    pgbench = outcome.booking[0]
    targets = []
    for clients in BOOKING_CLIENTS:
        ours = phases[booking_phase(current, clients)]
        theirs = phases.get(booking_phase(baseline, clients)) if baseline else None
        measure = f"hot booking, {clients} clients: bookings/s"
        targets += [
            Target(measure, ours.result.rate, "/s", "times", BOOKING_TIMES_BASELINE, _rate(theirs), base_name,
                   detail=f"{current.name} {_latencies(ours)}; {base_name} {_latencies(theirs)}"),
            Target(measure, ours.result.rate, "/s", "share", BOOKING_SHARE_OF_PGBENCH, pgbench.result.rate,
                   f"pgbench {PGBENCH_CLIENTS} clients", detail=f"pgbench {_latencies(pgbench)}"),
        ]
        if clients == max(BOOKING_CLIENTS):
            targets.append(Target(f"hot booking, {clients} clients: p95", ours.result.latency_ms(0.95), "ms",
                                  "below", BOOKING_P95_MS_AT_64,
                                  theirs.result.latency_ms(0.95) if theirs else None, base_name))
    targets.append(Target("hot booking: seats oversold (every cabin)", sum(c.oversold for c in outcome.cabins)
                          + sum(0 if c.consistent else 1 for c in outcome.cabins), "", "exactly", 0))
    search = {phase.name: phase for phase in outcome.search}
    if search:
        bare, no_store = search[BARE_QUERY], search[f"{current.name}: search, no-store"]
        constant, cached = search[BARE_CONSTANT], search[f"{current.name}: search, cached"]
        targets += [
            Target("uncached search (no-store): req/s", no_store.result.rate, "/s", "share", UNCACHED_SHARE,
                   bare.result.rate, "bare one-query",
                   detail=f"search {_latencies(no_store)}; bare {_latencies(bare)}"),
            Target("uncached search: p99", no_store.result.latency_ms(0.99), "ms", "below", UNCACHED_P99_MS,
                   bare.result.latency_ms(0.99), "bare one-query"),
            Target("cached search: req/s", cached.result.rate, "/s", "share", CACHED_SHARE, constant.result.rate,
                   "bare constant JSON", detail=f"search {_latencies(cached)}; constant {_latencies(constant)}"),
        ]
    storm = outcome.storms.get(current.label)
    theirs_storm = outcome.storms.get(baseline.label) if baseline else None
    if storm is not None:
        base_ledger = outcome.ledgers.get(baseline.label) if baseline else None
        targets += [
            Target("webhook storm (50% duplicates): events/s", _events_per_second(storm), "/s", "at_least",
                   WEBHOOK_EVENTS_PER_SECOND, _events_per_second(theirs_storm) if theirs_storm else None, base_name,
                   detail=f"{current.name} {_latencies(storm)}; {base_name} {_latencies(theirs_storm)}"),
            Target("webhook storm: ledger errors", outcome.ledgers[current.label].errors, "", "exactly", 0,
                   base_ledger.errors if base_ledger else None, base_name),
        ]
    periods = [phase.name for phase in [*outcome.booking, *outcome.search, *outcome.storms.values()]]
    targets.append(Target("RSS per worker under load (max)", worker_rss(sampler, current.label, periods), "MB",
                          "below", RSS_LIMIT_MB, worker_rss(sampler, baseline.label, periods) if baseline else None,
                          base_name))
    return targets


def _events_per_second(phase: Phase) -> float:
    return phase.result.requests / phase.result.window if phase.result.window else 0.0


def _summary(args: argparse.Namespace, sides: list[Side], outcome: Outcome, sampler: Sampler) -> int:
    current = sides[0]
    servers = [side.server for side in sides if side.server is not None]
    all_phases = [*outcome.booking, *outcome.storms.values(), *outcome.search]
    against = f" against {sides[1].code.describe()}" if len(sides) > 1 else " (no baseline)"
    lines = [
        "",
        "=" * 140,
        f"AIS performance: {current.code.describe()}{against}",
        *describe_setup(args, *servers),
        f"  pgbench: {PGBENCH_CLIENTS} clients, prepared statements, synchronous_commit on, the same conditional "
        "UPDATE of one cabin row + a booking INSERT per transaction",
        "",
        "hot-flight booking (one passenger, a 1,000,000-seat cabin):",
        *phase_table(outcome.booking, "ok/s"),
        "  cabins after the run (seats_available + held/sold seats == capacity, never below 0):",
        *(check.describe() for check in outcome.cabins),
        f"  each of the {args.users} users of a server ends the run holding about "
        f"{max(c.bookings for c in outcome.cabins[:len(sides)]) / max(1, args.users):,.0f} bookings (the abuse "
        "limits are raised, so nothing refuses them)",
        "",
        "webhook storm (every event twice, shuffled; events/s counts every answered request):",
        *phase_table(list(outcome.storms.values()), "ok/s"),
        *(f"  ledger of {label}: {check.describe()}" for label, check in outcome.ledgers.items()),
        "",
        f"search at {args.search_clients} connections (answer: {outcome.search_answer}):",
        *phase_table(outcome.search, "req/s"),
        "",
        *rss_lines(sampler, current.label, [phase.name for phase in all_phases]),
        *(rss_lines(sampler, side.label, [phase.name for phase in all_phases])[0] for side in sides[1:]),
        *noise_lines(all_phases),
        *(line for phase in all_phases for line in phase.profile),
        "",
        "SUMMARY (every reference measured in this run, on this machine):",
        *machine_lines(all_phases),
        *target_table(targets := _targets(sides, outcome, sampler)),
        "=" * 140,
    ]
    print("\n".join(lines))
    failures = _failures(sides, outcome)
    for failure in failures:
        print(f"FAILED: {failure}")
    if failures and args.keep_logs is None:
        print("(--keep-logs DIR keeps the servers' logs, which say why a request failed)")
    missed = [t.measure for t in targets if t.met is False]
    if args.require_targets and missed:
        print(f"targets NOT MET: {', '.join(missed)}")
        return 1
    return 1 if failures else 0


def _failures(sides: list[Side], outcome: Outcome) -> list[str]:
    current = sides[0]
    failures = [f"{check.label}: inconsistent or oversold" for check in outcome.cabins
                if not check.consistent or check.oversold]
    failures += [f"ledger of {label}: {check.errors} error(s)" for label, check in outcome.ledgers.items()
                 if check.errors]
    ours = [phase for phase in [*outcome.booking, *outcome.search, *outcome.storms.values()]
            if phase.name.startswith(current.name)]
    failures += [f"{phase.name}: {phase.result.errors()}" for phase in ours if phase.result.failures()]
    failures += [f"{phase.name}: nothing answered" for phase in ours if not phase.result.ok]
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_arguments(parser, clients=None, duration=16.0, workers=2, loadgen="wrk")
    parser.add_argument("--baseline", default="e3755f6", metavar="REV",
                        help="the commit to compare with (built once into bench/.cache; default e3755f6); "
                             "`none` runs without it (faster; the ratios to it are then not measured)")
    parser.add_argument("--users", type=int, default=64,
                        help="users registered on each server, whose tokens the booking clients rotate through "
                             "(default 64: one per connection at 64 clients; the fewer users, the more bookings each "
                             "holds, which makes per-user guards such as MAX_HELD_SEATS count more rows than real "
                             "passengers ever hold)")
    parser.add_argument("--search-clients", type=int, default=64, help="search connections (default 64)")
    parser.add_argument("--storm-bookings", type=int, default=1000,
                        help="bookings paid in the webhook storm: 2 events each, each sent twice (default 1000)")
    parser.add_argument("--storm-clients", type=int, default=16, help="webhook storm connections (default 16)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run (~2 minutes): 4 s per phase in one round, 250 storm bookings, 16 users")
    parser.add_argument("--require-targets", action="store_true", help="exit 1 when a target is NOT MET")
    parser.add_argument("--keep-logs", type=Path, default=None, metavar="DIR",
                        help="copy the servers' logs into DIR at the end")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds, args.warmup = 4.0, 1, 1.0
        args.storm_bookings, args.users = 250, 16
    return int(run_async(run(args)))


if __name__ == "__main__":
    sys.exit(main())
