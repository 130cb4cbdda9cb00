"""`make loadtest`: the seeds' load scenario against the production topology on this machine.

    make loadtest                                      # 100 users, 180 s
    make loadtest ARGS="--users 100 --run-time 60s"
    make loadtest-smoke                                # 10 users, 30 s (what CI runs)

Starts a scratch PostgreSQL database, a redis-server, `ais db upgrade` and `ais seed --demo`
(as compose's `migrate`), the payment sandbox as its own process (`ais sandbox`, its state in a
second scratch database, reached over HTTP through STRIPE_API_BASE, delivering its signed
webhooks to the API's /webhooks/stripe as Stripe would), `ais serve --no-worker --workers 2` and
one `ais worker`. Settings as shipped, except the abuse limits, raised through their settings
(MAX_HELD_SEATS, BOOKING_RATE_PER_MINUTE, the login and register limits). Then: an admin creates
the load flights through the admin API, the passengers register and log in (before the ramp),
and locust runs loadtest/locustfile.py headless: a search spike ramping to half the users and then
to all of them, then bookings and payments through the hosted checkout at the peak.

Prints p50/p95/p99 per endpoint and overall, requests/s, the error rate, the CPU each part used,
the sandbox's own throughput beside the booking rate it served, and the invariants (no cabin
oversold, ledger net = captured per booking, every paid booking confirmed); then the seeds' bar
(p95 < 500 ms, < 1% errors) and ours (p95 < 100 ms, 0 errors). Exit status 1 when an invariant
breaks, a process died or locust could not run; with --require-targets also when a bar is missed.
Everything it started is stopped and the scratch databases are dropped (`--keep` keeps them and
the work directory with every process's log).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from checks import check_invariants, sandbox_burst
from topology import AIS, LOCUST, CpuMeter, Topology, run_once, scratch_databases

HERE = Path(__file__).resolve().parent
ROUTES = [("RUH", "JED"), ("JED", "RUH"), ("RUH", "DXB"), ("DXB", "RUH"), ("JED", "CAI"), ("DMM", "RUH")]
ZONES = {"RUH": "+03:00", "JED": "+03:00", "DMM": "+03:00", "DXB": "+04:00", "CAI": "+02:00"}
SEEDS_P95_MS, SEEDS_ERROR_RATE = 500.0, 0.01
OURS_P95_MS = 100.0
SANDBOX = "POST sandbox hosted checkout"


def duration(value: str) -> float:
    found = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h)?", value.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"{value!r}: give seconds (90, 90s), minutes (3m) or hours (1h)")
    return float(found.group(1)) * {"s": 1, None: 1, "m": 60, "h": 3600}[found.group(2)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100, help="peak concurrent users (default 100)")
    parser.add_argument("--run-time", type=duration, default=180.0, help="whole run, e.g. 60s, 3m (default 180s)")
    parser.add_argument("--flights", type=int, default=12, help="load flights created by the admin (default 12)")
    parser.add_argument("--seats", type=int, default=1000,
                        help="economy seats per load flight (default 1000, the admin API's most)")
    parser.add_argument("--pool-size", type=int, default=None, help="DB_POOL_SIZE of every AIS process "
                        "(default: the product's)")
    parser.add_argument("--sandbox-burst", type=duration, default=5.0,
                        help="seconds of the sandbox-alone throughput burst after the load (0: skip; default 5)")
    parser.add_argument("--summary-json", type=Path, help="also write the figures and checks to this file")
    parser.add_argument("--require-targets", action="store_true", help="exit 1 when a bar is not met")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases and the work directory")
    return parser.parse_args(argv)


# --- preparing the data through the product's own interfaces -------------------------------------


def create_admin(topology: Topology) -> tuple[str, str]:
    email, password = "load-admin@example.com", f"load admin {secrets.token_hex(12)}"
    env = topology.processes["api"].env
    run_once([AIS, "create-admin", "--email", email, "--password", password], env, topology.work_dir,
             "ais create-admin")
    return email, password


def load_flights(count: int, seats: int) -> list[dict[str, Any]]:
    """Flights in the coming days on a few routes, large enough never to sell out in a run."""
    flights = []
    for index in range(count):
        origin, destination = ROUTES[index % len(ROUTES)]
        day = datetime.now(UTC).date() + timedelta(days=3 + index // len(ROUTES))
        hour = 8 + 6 * ((index // len(ROUTES)) % 2)
        departs = f"{day.isoformat()}T{hour:02d}:00:00{ZONES[origin]}"
        arrives = f"{day.isoformat()}T{hour + 2:02d}:30:00{ZONES[origin]}"
        flights.append({
            "flightNumber": f"LT{100 + index}", "from": origin, "to": destination,
            "departureTime": departs, "arrivalTime": arrives,
            "cabins": [{"cabin": "economy", "capacity": seats, "price": "450.00", "currency": "SAR"},
                       {"cabin": "business", "capacity": 24, "price": "1650.00", "currency": "SAR"}],
        })
    return flights


async def prepare(topology: Topology, args: argparse.Namespace) -> dict[str, Any]:
    admin_email, admin_password = create_admin(topology)
    async with httpx.AsyncClient(base_url=topology.api_url, timeout=60) as http:
        login = await http.post("/api/v1/auth/login", json={"email": admin_email, "password": admin_password})
        login.raise_for_status()
        admin = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        flights = []
        for body in load_flights(args.flights, args.seats):
            created = await http.post("/api/v1/admin/flights", json=body, headers=admin)
            if created.status_code != 201:
                raise SystemExit(f"creating a load flight failed: {created.status_code} {created.text}")
            flights.append({"id": created.json()["id"], "from": body["from"], "to": body["to"],
                            "date": body["departureTime"][:10]})

        semaphore = asyncio.Semaphore(8)

        async def account(index: int) -> dict[str, str]:
            email, password = f"passenger{index}-{secrets.token_hex(3)}@example.com", f"load passenger {index} pw"
            async with semaphore:
                registered = await http.post("/api/v1/auth/register",
                                             json={"email": email, "password": password, "fullName": f"P {index}"})
                if registered.status_code != 201:
                    raise SystemExit(f"registering a passenger failed: {registered.text}")
                tokens = await http.post("/api/v1/auth/login", json={"email": email, "password": password})
                tokens.raise_for_status()
            return {"email": email, "password": password, "token": tokens.json()["accessToken"]}

        accounts = await asyncio.gather(*(account(i) for i in range(args.users)))
    return {"accounts": accounts, "tokens_at": time.time(), "flights": flights}


# --- locust ---------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    requests: int
    failures: int
    rate: float
    p50: float
    p95: float
    p99: float
    max: float

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def line(self) -> str:
        return (f"  {self.name:<34} {self.requests:>8} {self.rate:>8.1f} {self.p50:>8.0f} {self.p95:>8.0f} "
                f"{self.p99:>8.0f} {self.max:>8.0f} {self.failures:>7} {100 * self.error_rate:>7.2f}%")


HEADER = (f"  {'endpoint':<34} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'errors':>7} {'rate':>8}")


def read_stats(prefix: Path) -> list[Row]:
    rows = []
    with (prefix.parent / f"{prefix.name}_stats.csv").open() as file:
        for item in csv.DictReader(file):
            if not item["Request Count"] or int(item["Request Count"]) == 0:
                continue
            name = "overall" if item["Name"] == "Aggregated" else item["Name"]
            rows.append(Row(name, int(item["Request Count"]), int(item["Failure Count"]), float(item["Requests/s"]),
                            float(item["50%"]), float(item["95%"]), float(item["99%"]),
                            float(item["Max Response Time"])))
    return rows


def read_failures(prefix: Path) -> list[str]:
    path = prefix.parent / f"{prefix.name}_failures.csv"
    if not path.exists():
        return []
    with path.open() as file:
        return [f"{item['Occurrences']:>6}x {item['Method']} {item['Name']}: {item['Error'][:160]}"
                for item in csv.DictReader(file)]


def run_locust(topology: Topology, plan_file: Path, prefix: Path, run_time: float,
               cpu: CpuMeter) -> tuple[int, dict[str, float], float]:
    env = {**topology.processes["api"].env, "LOADTEST_PLAN": str(plan_file)}
    argv = [LOCUST, "-f", str(HERE / "locustfile.py"), "--headless", "--host", topology.api_url,
            "--csv", str(prefix), "--only-summary", "--stop-timeout", "15", "--loglevel", "WARNING",
            "--exit-code-on-error", "0"]
    log = topology.work_dir / "locust.log"
    # locust has exited when the window closes: its CPU is what this process's waited-for children used.
    children_before = _children_cpu_seconds()
    with log.open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(argv, env=env, cwd=topology.work_dir, stdout=out, stderr=subprocess.STDOUT)
        cpu.begin()
        try:
            code = process.wait(run_time + 120)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        used = cpu.end()
    took = time.monotonic() - started
    used["locust"] = (_children_cpu_seconds() - children_before) / took
    used["other"] = max(0.0, used["other"] - used["locust"])
    return code, used, took


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- the report -----------------------------------------------------------------------------------


def book_and_pay_seconds(phases_file: Path, run_time: float) -> float:
    try:
        phases = json.loads(phases_file.read_text())
    except (OSError, ValueError):
        return 0.0
    starts_at = phases["stages"][-2][0]
    return max(0.0, run_time - starts_at)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    work_dir = Path(tempfile.mkdtemp(prefix="ais-loadtest-"))
    summary: dict[str, Any] = {"users": args.users, "run_time_seconds": args.run_time}
    code = 0
    with scratch_databases("api", "sandbox", keep=args.keep) as (ais_url, sandbox_url):
        topology = Topology(work_dir, ais_url, sandbox_url, args.pool_size)
        try:
            print(f"==> starting the topology (work dir {work_dir}) ...", flush=True)
            topology.start()
            if not topology.separate_worker:
                print("note: this `ais serve` has no --no-worker: the jobs run inside the API processes, "
                      "no separate `ais worker`", flush=True)
            print("==> the admin creates the load flights; the passengers register and log in ...", flush=True)
            plan = asyncio.run(prepare(topology, args))
            plan_file, phases_file, prefix = work_dir / "plan.json", work_dir / "phases.json", work_dir / "stats"
            plan.update(peak_users=args.users, run_time_seconds=args.run_time, phases_file=str(phases_file))
            plan_file.write_text(json.dumps(plan))
            print(f"==> locust: {args.users} users, {args.run_time:.0f} s (search spike, then bookings and "
                  "payments) ...", flush=True)
            roots = {name: process.pid for name, process in topology.processes.items()}
            cpu = CpuMeter(roots)
            locust_code, used, took = run_locust(topology, plan_file, prefix, args.run_time, cpu)
            died = topology.check_alive()
            if locust_code != 0 or not (work_dir / "stats_stats.csv").exists():
                print((work_dir / "locust.log").read_text(errors="replace")[-4000:])
                raise SystemExit(f"locust failed (exit {locust_code}); its log: {work_dir / 'locust.log'}")
            rows = read_stats(prefix)
            summary.update(report(args, topology, rows, read_failures(prefix), used, took,
                                  book_and_pay_seconds(phases_file, args.run_time)))
            invariants = check_invariants(ais_url, sandbox_url)
            print("\n".join(invariants.lines()))
            summary["invariants"] = {"ok": invariants.ok, "problems": invariants.problems,
                                     "paid_at_provider": invariants.paid_at_provider, "cabins": invariants.cabins}
            if args.sandbox_burst > 0:
                burst = sandbox_burst(topology.sandbox_url, topology.secret_key, topology.api_url,
                                      seconds=args.sandbox_burst)
                summary["sandbox_burst_per_second"] = burst.rate
                print(sandbox_line(summary, burst.rate, burst.failures))
            print("\n".join(verdicts(summary)))
            for problem in died:
                print(f"PROBLEM: {problem}")
            if died or not invariants.ok:
                code = 1
            elif args.require_targets and not all(summary["targets"].values()):
                code = 1
        finally:
            topology.stop()
            if args.summary_json:
                args.summary_json.write_text(json.dumps(summary, indent=2, default=str))
            if args.keep:
                print(f"kept: {work_dir} (logs, plan, locust CSV) and the databases {ais_url} and {sandbox_url}")
            else:
                shutil.rmtree(work_dir, ignore_errors=True)
    return code


def report(args: argparse.Namespace, topology: Topology, rows: list[Row], failures: list[str],
           used: dict[str, float], took: float, book_and_pay: float) -> dict[str, Any]:
    by_name = {row.name: row for row in rows}
    overall = by_name["overall"]
    ais_rows = [row for row in rows if row.name not in ("overall", SANDBOX)]
    ais_requests = sum(row.requests for row in ais_rows)
    ais_failures = sum(row.failures for row in ais_rows)
    bookings = by_name.get("POST /bookings")
    booking_rate = bookings.requests / book_and_pay if bookings and book_and_pay else 0.0
    worker = "one `ais worker`" if topology.separate_worker else "jobs in the API processes"
    print(f"\nLoad test: {args.users} users at the peak, {took:.0f} s; topology: `ais serve --workers 2"
          f"{' --no-worker' if topology.separate_worker else ''}`, {worker}, `ais sandbox` (PostgreSQL store, "
          f"webhooks delivered to the API), PostgreSQL, Redis; locust (FastHttpUser) on the same machine "
          f"({_cores()} cores, shared)")
    print(HEADER)
    for row in sorted(rows, key=lambda r: (r.name == "overall", r.name)):
        print(row.line())
    print(f"  overall: {overall.rate:.1f} requests/s, error rate {100 * overall.error_rate:.2f}% "
          f"({overall.failures} of {overall.requests}); AIS's own endpoints (without the hosted page): "
          f"{ais_requests} requests, {ais_failures} errors")
    print(f"  bookings and payments phase: {book_and_pay:.0f} s, {booking_rate:.1f} bookings/s")
    for failure in failures[:10]:
        print(f"  error: {failure}")
    print("  cores used: " + "  ".join(f"{name} {value:.2f}" for name, value in sorted(used.items())
                                      if name != "machine") + f"  (machine {used['machine']:.2f})")
    sandbox_rate = sum(by_name[name].requests for name in (SANDBOX, "POST /bookings/{id}/pay") if name in by_name)
    return {
        "endpoints": {row.name: row.__dict__ for row in rows},
        "overall": overall.__dict__, "error_rate": overall.error_rate,
        "booking_rate_per_second": booking_rate, "cores": used,
        "sandbox_calls_per_second": sandbox_rate / book_and_pay if book_and_pay else 0.0,
        "separate_worker": topology.separate_worker,
    }


def sandbox_line(summary: dict[str, Any], burst_rate: float, burst_failures: int) -> str:
    asked, bookings = summary["sandbox_calls_per_second"], summary["booking_rate_per_second"]
    cores = summary["cores"].get("sandbox", 0.0)
    verdict = "not the bottleneck" if burst_rate > max(asked, bookings) else "MAY BE THE BOTTLENECK"
    return (f"Payment sandbox: {cores:.2f} cores during the load for about {asked:.1f} calls/s "
            f"(sessions opened and hosted pages paid); alone afterwards it created {burst_rate:.0f} checkout "
            f"sessions/s ({burst_failures} failed) against {bookings:.1f} bookings/s in the run: {verdict}")


def verdicts(summary: dict[str, Any]) -> list[str]:
    overall = summary["overall"]
    seeds = overall["p95"] < SEEDS_P95_MS and summary["error_rate"] < SEEDS_ERROR_RATE
    ours = overall["p95"] < OURS_P95_MS and overall["failures"] == 0
    summary["targets"] = {"seeds": seeds, "ours": ours}
    at = f"at {summary['users']} users"
    return [f"Seeds' bar (p95 < {SEEDS_P95_MS:.0f} ms, errors < 1%) {at}: "
            f"{'met' if seeds else 'NOT MET'} (p95 {overall['p95']:.0f} ms, errors {100 * summary['error_rate']:.2f}%)",
            f"Our bar (p95 < {OURS_P95_MS:.0f} ms, 0 errors) {at}: {'met' if ours else 'NOT MET'}"]


def _cores() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
