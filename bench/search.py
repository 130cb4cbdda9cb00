"""Flight search throughput: AIS `GET /api/v1/flights/search` uncached and cached, beside a bare
FastAPI endpoint that runs one pooled 5-row query (bench/bare_app.py, same driver and pool
settings), measured in the same run.

    .venv/bin/python bench/search.py [--clients 16] [--duration 10] [--workers 1] [--loadgen wrk]

Phases (the same route-day, five matching flights, among the demo timetable's ~600 flights):
  1. bare FastAPI + one 5-row query (the baseline);
  2. AIS search with `Cache-Control: no-cache` (answered from the database; the fresh answer is
     written back to the cache);
  3. AIS search, cached (served from the search cache);
  4. AIS search with `Cache-Control: no-store` (database only, the cache neither read nor written).
Target: uncached (no-store) search >= 80% of the bare endpoint's requests/s. bench/perf.py
measures this with wrk at 64 connections, and cached search against a constant-JSON endpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import codebase
from harness.api import seed_search_flights
from harness.database import database_name, scratch_database
from harness.load import LoadSpec
from harness.locations import BENCH_DIR, run_async
from harness.options import common_arguments, run_options, server_settings
from harness.phases import PhasePlan, run_phases
from harness.report import describe_setup, noise_lines, phase_table, rss_lines
from harness.sampling import Sampler
from harness.seeding import seed_demo
from harness.servers import Server, server_environment, start_server, stop_server, work_directory

TARGET_RATIO = 0.80  # the performance issue's; bench/perf.py measures it with cached search too


async def run(args: argparse.Namespace) -> int:
    sampler = Sampler().start()
    code = codebase.current()
    try:
        with work_directory() as work:
            async with scratch_database(code, work, args.keep_db) as dsn:
                await seed_demo(code, dsn, work)
                path = await seed_search_flights(dsn)
                env = server_environment(dsn, work / "data", server_settings(args))
                ais = await start_server(code, args.server, "ais.app:create_app", env, args.workers, work)
                bare = None
                try:
                    sampler.watch("ais", ais.process.pid)
                    bare_env = {**env, "PYTHONPATH": str(BENCH_DIR)}
                    bare_kind = "uvicorn" if args.server == "ais" else args.server
                    bare = await start_server(code, bare_kind, "bare_app:create_app", bare_env, args.workers, work)
                    sampler.watch("bare", bare.process.pid)
                    await sampler.attach_databases(database_name(dsn))
                    return await _phases(args, ais, bare, sampler, path)
                finally:
                    stop_server(ais)
                    if bare is not None:
                        stop_server(bare)
                    await sampler.detach_databases()
    finally:
        sampler.stop()


async def _phases(args: argparse.Namespace, ais: Server, bare: Server, sampler: Sampler, path: str) -> int:
    import httpx

    # `no-cache` answers from the database and refreshes the cached entry, so an entry that an
    # earlier run (another scratch database, same route-day) left in this Redis db is replaced.
    async with httpx.AsyncClient(base_url=ais.base_url) as client:
        found = (await client.get(path, headers={"Cache-Control": "no-cache"})).json()
        bare_rows = (await client.get(f"{bare.base_url}/bare/flights")).json()
    options = run_options(args)
    common = {"clients": args.clients, "duration": args.duration, "warmup": args.warmup, "client": args.loadgen}
    progress = print if args.verbose else (lambda *_: None)
    plans = [PhasePlan("bare FastAPI: one 5-row query", LoadSpec(kind="http", base_url=bare.base_url,
                                                                  path="/bare/flights", **common))]
    for label, cache_control in (("uncached (no-cache)", "no-cache"), ("cached", None), ("no-store", "no-store")):
        if label == "no-store" and args.skip_no_store:
            continue
        headers = {"Cache-Control": cache_control} if cache_control else {}
        spec = LoadSpec(kind="http", base_url=ais.base_url, path=path, headers=headers, **common)
        plans.append(PhasePlan(f"AIS search, {label}", spec, profile_label="ais"))
    try:
        progress(f"{len(plans)} phases x {args.rounds} rounds")
        phases = await run_phases(plans, options, sampler)
    finally:
        options.close()

    # The performance issue's uncached figure is the no-store one (no cache write either).
    bare_phase, cached = phases[0], phases[2]
    uncached = phases[3] if len(phases) > 3 else phases[1]
    ratio = uncached.result.rate / bare_phase.result.rate if bare_phase.result.rate else 0.0
    cached_ratio = cached.result.rate / bare_phase.result.rate if bare_phase.result.rate else 0.0
    lines = [
        "",
        "=" * 110,
        "AIS flight search benchmark",
        *describe_setup(args, ais),
        f"  baseline: {bare.name} serving bench/bare_app.py, workers={bare.workers}, same engine settings",
        f"  query: {path} → {len(found.get('flights', []))} flights; bare endpoint → "
        f"{len(bare_rows.get('flights', []))} rows",
        "",
        *phase_table(phases, "req/s"),
        "",
        f"  {uncached.name} {uncached.result.rate:.1f} req/s / bare one-query endpoint {bare_phase.result.rate:.1f} "
        f"req/s = {ratio:.1%} (target >= {TARGET_RATIO:.0%}): {'PASS' if ratio >= TARGET_RATIO else 'BELOW'}",
        f"  cached search {cached.result.rate:.1f} req/s = {cached_ratio:.1%} of the bare endpoint",
        *rss_lines(sampler, "ais", [phase.name for phase in phases[1:]]),
        *rss_lines(sampler, "bare", [phases[0].name])[:1],
        *noise_lines(phases),
        *(line for phase in phases[1:] for line in phase.profile),
        "=" * 110,
    ]
    print("\n".join(lines))
    failures = [phase.name for phase in phases if phase.result.ok == 0 or phase.result.errors() != "none"]
    if failures:
        print(f"errors in: {', '.join(failures)}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_arguments(parser)
    parser.add_argument("--skip-no-store", action="store_true", help="skip the no-store phase")
    args = parser.parse_args()
    return int(run_async(run(args)))


if __name__ == "__main__":
    sys.exit(main())
