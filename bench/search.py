"""Flight search throughput: AIS `GET /api/v1/flights/search` uncached and cached, beside a bare
FastAPI endpoint that runs one pooled 5-row query (bench/bare_app.py, same driver and pool
settings), measured in the same run.

    .venv/bin/python bench/search.py [--clients 16] [--duration 10] [--workers 1]

Phases (the same route-day, five matching flights, among the demo timetable's ~600 flights):
  1. bare FastAPI + one 5-row query (the baseline);
  2. AIS search with `Cache-Control: no-cache` (answered from the database; the fresh answer is
     written back to the cache);
  3. AIS search, cached (served from the search cache);
  4. AIS search with `Cache-Control: no-store` (database only, the cache neither read nor written).
Target: uncached search >= 60% of the bare endpoint's requests/s.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    BENCH_DIR,
    LoadSpec,
    PhasePlan,
    Sampler,
    common_arguments,
    describe_setup,
    noise_lines,
    phase_table,
    rss_lines,
    run_async,
    run_options,
    run_phases,
    scratch_database,
    seed_demo,
    seed_flights,
    server_environment,
    start_server,
    stop_server,
    work_directory,
)

TARGET_RATIO = 0.60
ORIGIN, DESTINATION, ORIGIN_ZONE = "RUH", "JED", ZoneInfo("Asia/Riyadh")


def _search_day() -> datetime:
    return datetime.now(ORIGIN_ZONE).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=5)


async def _seed(dsn: str) -> str:
    """The demo timetable (one RUH→JED flight a day) plus four more RUH→JED flights on the search
    day, so the search answers five flights, like the bare endpoint's five rows."""
    await seed_demo(dsn)
    day = _search_day()
    await seed_flights(dsn, [
        {"capacity": 180, "number": f"XY{100 + i}", "origin": ORIGIN, "destination": DESTINATION,
         "departure": datetime.combine(day.date(), time(9 + 3 * i), tzinfo=ORIGIN_ZONE).astimezone(UTC)}
        for i in range(4)
    ])
    return day.date().isoformat()


async def run(args: argparse.Namespace) -> int:
    sampler = Sampler().start()
    try:
        with work_directory() as work:
            async with scratch_database(args.keep_db) as dsn:
                day = await _seed(dsn)
                env = server_environment(args, dsn, work / "data")
                ais = await start_server(args.server, "ais.app:create_app", env, args.workers, work)
                bare = None
                try:
                    sampler.watch("ais", ais.process.pid)
                    bare_env = {**env, "PYTHONPATH": str(BENCH_DIR)}
                    bare_kind = "uvicorn" if args.server == "ais" else args.server
                    bare = await start_server(bare_kind, "bare_app:create_app", bare_env, args.workers, work)
                    sampler.watch("bare", bare.process.pid)
                    await sampler.attach_database(dsn.rsplit("/", 1)[1])
                    return await _phases(args, ais, bare, sampler, day)
                finally:
                    stop_server(ais)
                    if bare is not None:
                        stop_server(bare)
                    await sampler.detach_database()
    finally:
        sampler.stop()


async def _invalidate_cache(redis_db: int) -> None:
    """Entries an earlier run left in this Redis database (same route-day, another scratch
    database) must not be served: bump the search cache version, as the product does."""
    from redis.asyncio import Redis

    from ais.cache.search_cache import VERSION_KEY

    client = Redis(host="127.0.0.1", port=6379, db=redis_db)
    try:
        await client.incr(VERSION_KEY)
    finally:
        await client.aclose()


async def _phases(args: argparse.Namespace, ais, bare, sampler: Sampler, day: str) -> int:  # type: ignore[no-untyped-def]
    import httpx

    path = f"/api/v1/flights/search?from={ORIGIN}&to={DESTINATION}&date={day}&passengers=1&cabin=economy"
    if args.redis_db >= 0:
        await _invalidate_cache(args.redis_db)
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

    bare_phase, uncached, cached = phases[0], phases[1], phases[2]
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
        f"  uncached search {uncached.result.rate:.1f} req/s / bare one-query endpoint {bare_phase.result.rate:.1f} "
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
