"""Shared benchmark harness: scratch database, server subprocess, seeding, load generation,
process sampling (RSS, CPU) and the summary table.

Everything targets 127.0.0.1 only. The machine is small (2 cores) and the server, PostgreSQL,
Redis and the load generator all share it, so the benchmarks report RATIOS measured in the
same run, plus a CPU breakdown per phase that shows who used the cores.

Load generation runs in a child process (multiprocessing, spawn, started once per run) so the
parent stays free to sample /proc; `--loadgen-procs 0` runs it in the parent instead. Two HTTP
clients exist: `httpx` (the default: one AsyncClient with one keep-alive connection per virtual
client) and `raw` (a minimal HTTP/1.1 keep-alive client on asyncio streams, about 10x cheaper
per request: ~0.05 ms of CPU against ~0.6 ms), which leaves more of the 2 cores to the server
and so gives the truer server figure. Virtual clients open their connections one after another
(over CONNECT_SPREAD seconds) before the measured window, so a multi-worker server gets them
spread over its workers as it would with clients arriving over time.

Phases are split into rounds run interleaved (A B C A B C): other processes on the machine
(test runs) then depress every phase alike, and each phase reports how many cores those
unrelated processes took ("other").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
ADMIN_DSN = os.environ.get("AIS_BENCH_ADMIN_DSN", "postgresql://root@127.0.0.1:5432/test")
PASSWORD = "correct horse battery staple"
CLK_TCK = os.sysconf("SC_CLK_TCK")
RSS_LIMIT_MB = 250.0
CONNECT_SPREAD = 0.8  # seconds over which the virtual clients open their connections


# --- command line ---------------------------------------------------------------------------


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=16, help="concurrent virtual clients (default 16)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase (default 10)")
    parser.add_argument("--warmup", type=float, default=1.5, help="unmeasured seconds before each round")
    parser.add_argument("--rounds", type=int, default=2,
                        help="split each phase into this many rounds, run interleaved with the other phases "
                             "(default 2), so that noise from other processes hits every phase alike")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    parser.add_argument("--server", choices=("ais", "uvicorn", "granian"), default="ais",
                        help="ais = `ais serve` (uvicorn, uvloop, httptools; falls back to uvicorn if the CLI "
                             "is missing), uvicorn = the uvicorn CLI with the same loop/parser, granian = granian "
                             "ASGI (must be pip-installed in the venv)")
    parser.add_argument("--loadgen", choices=("httpx", "raw"), default="httpx",
                        help="HTTP client of the load generator (default httpx)")
    parser.add_argument("--loadgen-procs", type=int, default=1,
                        help="load generator processes (0 = inside the bench process; default 1)")
    parser.add_argument("--pool-size", type=int, default=20, help="DB_POOL_SIZE of the server (default 20)")
    parser.add_argument("--max-overflow", type=int, default=10, help="DB_MAX_OVERFLOW of the server (default 10)")
    parser.add_argument("--redis-db", type=int, default=14,
                        help="Redis database index for the server's cache (-1 = in-process memory store)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the server (repeatable)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the scratch database")
    parser.add_argument("--quiet-wait", type=float, default=20.0,
                        help="seconds the run may spend, in total, waiting before a phase until unrelated "
                             "processes (other test runs) use < 0.3 cores (default 20)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="py-spy record the server workers during the HTTP phases; raw stacks go to DIR and "
                             "a summary is printed (py-spy must be installed in the venv)")
    parser.add_argument("--profile-native", action="store_true",
                        help="with --profile: include native frames (C extensions, libc, the GC); py-spy then "
                             "pauses the process for each sample, which distorts lock-bound phases (bookings) badly")
    parser.add_argument("--verbose", "-v", action="store_true", help="print progress")


def run_options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(procs=args.loadgen_procs, rounds=args.rounds, quiet_budget=[args.quiet_wait],
                      profile_dir=args.profile, profile_native=args.profile_native)


# --- small helpers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def dsn_for(database: str) -> str:
    base = ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base}/{database}"


def _check_local(dsn: str) -> None:
    from urllib.parse import urlparse

    host = urlparse(dsn).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"refusing to benchmark against a non-local database host {host!r}")


# --- scratch database -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def scratch_database(keep: bool = False) -> AsyncIterator[str]:
    """A fresh `ais_bench_<random>` database with the schema migrated; dropped afterwards."""
    import asyncpg

    _check_local(ADMIN_DSN)
    name = f"ais_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = dsn_for(name)
    try:
        await asyncio.to_thread(_migrate, dsn)
        yield dsn
    finally:
        if keep:
            print(f"(kept scratch database {name})")
        else:
            admin = await asyncpg.connect(ADMIN_DSN)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


def _settings(dsn: str, data_dir: Path | None = None) -> Any:
    from ais.config import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=dsn,
        ais_data_dir=data_dir or Path(tempfile.gettempdir()) / "ais-bench-unused",
        log_level="WARNING",
        run_jobs_in_process=False,
    )


def _migrate(dsn: str) -> None:
    import logging

    from ais.db import migrate

    logging.getLogger("alembic").setLevel(logging.WARNING)
    migrate.upgrade(_settings(dsn))


# --- seeding straight into the database -----------------------------------------------------


@dataclass
class SeededFlight:
    flight_id: str
    cabin_id: str
    capacity: int


async def seed_demo(dsn: str) -> int:
    """The product's demo timetable (a month of flights on ~20 sectors, the airports)."""
    from ais.flights.seed import seed_demo as product_seed
    from ais.runtime import Runtime

    runtime = Runtime.create(_settings(dsn))
    try:
        async with runtime.session_factory() as session:
            created = await product_seed(session)
            await session.commit()
            return created
    finally:
        await runtime.close()


async def seed_flights(dsn: str, specs: Sequence[dict[str, Any]]) -> list[SeededFlight]:
    """Flights with an economy and a business cabin, inserted with the ORM (as tests/factories.py
    does). Each spec: capacity, and optionally origin, destination, departure (aware datetime),
    number, fare_minor."""
    from datetime import timedelta

    from ais.db.base import utcnow
    from ais.db.upsert import insert_if_absent
    from ais.flights.models import Airport, Cabin, CabinClass, Flight
    from ais.flights.seed import AIRPORTS
    from ais.runtime import Runtime

    runtime = Runtime.create(_settings(dsn))
    seeded: list[SeededFlight] = []
    try:
        async with runtime.session_factory() as session:
            for airport in AIRPORTS:
                await insert_if_absent(session, Airport.__table__, airport, ["code"])
            for index, spec in enumerate(specs):
                departure = spec.get("departure") or (utcnow() + timedelta(days=3)).replace(microsecond=0)
                flight = Flight(
                    flight_number=spec.get("number") or f"ZZ{9000 + index}",
                    origin=spec.get("origin", "RUH"), destination=spec.get("destination", "JED"),
                    departure_at=departure, arrival_at=departure + timedelta(hours=1, minutes=45),
                )
                session.add(flight)
                await session.flush()
                economy = Cabin(flight_id=flight.id, cabin_class=CabinClass.ECONOMY, capacity=spec["capacity"],
                                seats_available=spec["capacity"], fare_minor=spec.get("fare_minor", 45000),
                                currency="SAR")
                business = Cabin(flight_id=flight.id, cabin_class=CabinClass.BUSINESS, capacity=12,
                                 seats_available=12, fare_minor=180000, currency="SAR")
                session.add_all([economy, business])
                await session.flush()
                seeded.append(SeededFlight(str(flight.id), str(economy.id), spec["capacity"]))
            await session.commit()
    finally:
        await runtime.close()
    return seeded


# --- the server under test ------------------------------------------------------------------


@dataclass
class Server:
    name: str
    command: list[str]
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    workers: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def server_environment(args: argparse.Namespace, dsn: str, data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIS_", "DATABASE_", "REDIS_"))}
    env.update({
        "AIS_ENV": "development",
        "AIS_DATA_DIR": str(data_dir),
        "DATABASE_URL": dsn,
        "LOG_LEVEL": "WARNING",
        "RUN_JOBS_IN_PROCESS": "false",
        "SANDBOX_WEBHOOK_DELIVERY": "off",
        "LOGIN_RATE_LIMIT": "100000",
        "LOGIN_RATE_LIMIT_PER_IP": "100000",
        # A few users make every booking of a run: the per-user limits of SPEC §4 would refuse them.
        "MAX_HELD_SEATS": "1000000",
        "BOOKING_RATE_PER_MINUTE": "1000000",
        "DB_POOL_SIZE": str(args.pool_size),
        "DB_MAX_OVERFLOW": str(args.max_overflow),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    if args.redis_db >= 0:
        env["REDIS_URL"] = f"redis://{HOST}:6379/{args.redis_db}"
    for item in args.server_env:
        name, _, value = item.partition("=")
        env[name] = value
    return env


def _ais_cli_serves() -> bool:
    cli = VENV_BIN / "ais"
    if not cli.exists():
        return False
    result = subprocess.run([str(cli), "serve", "--help"], capture_output=True, text=True, timeout=60, check=False)
    return result.returncode == 0 and "--no-demo" in result.stdout


def server_command(kind: str, target: str, port: int, workers: int) -> tuple[str, list[str]]:
    """(description, argv). `target` is a factory "module:function"."""
    if kind == "ais" and target == "ais.app:create_app" and _ais_cli_serves():
        return ("ais serve (uvicorn, uvloop, httptools)",
                [str(VENV_BIN / "ais"), "serve", "--host", HOST, "--port", str(port), "--workers", str(workers),
                 "--no-demo"])
    if kind == "granian":
        binary = VENV_BIN / "granian"
        if not binary.exists():
            raise SystemExit("granian is not installed in the venv: .venv/bin/pip install granian")
        return ("granian ASGI (uvloop)",
                [str(binary), "--interface", "asgi", "--factory", "--host", HOST, "--port", str(port),
                 "--workers", str(workers), "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
                 "--http", "1", target])
    return ("uvicorn CLI (uvloop, httptools)",
            [str(VENV_BIN / "uvicorn"), "--factory", target, "--host", HOST, "--port", str(port),
             "--workers", str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
             "--log-level", "warning", "--timeout-graceful-shutdown", "5"])


async def start_server(kind: str, target: str, env: dict[str, str], workers: int, work_dir: Path,
                       ready_path: str = "/health/ready", ready_within: float = 90.0) -> Server:
    port = free_port()
    name, command = server_command(kind, target, port, workers)
    log_path = work_dir / f"server-{port}.log"
    process = _spawn(command, env, work_dir, log_path)
    server = Server(name, command, port, process, log_path, workers)
    import httpx

    deadline = time.monotonic() + ready_within
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                response = await client.get(ready_path)
                if response.status_code == 200:
                    break
            if time.monotonic() > deadline:
                stop_server(server)
                raise RuntimeError(f"server not ready after {ready_within:.0f} s:\n{server.log_tail()}")
            await asyncio.sleep(0.2)
    if workers > 1:
        await asyncio.sleep(1.5)  # let every worker finish starting, not just the first one
    return server


def _spawn(command: list[str], env: dict[str, str], work_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """In its own session, so the whole server (supervisor and workers) is one process group."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, env=env, cwd=work_dir, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_server(server: Server) -> None:
    """SIGTERM to the server's own process group (it was started in a new session), then SIGKILL."""
    process = server.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    # Workers of a multi-process server are in the same group; make sure none is left over.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


# --- /proc sampling: RSS of the server processes, CPU by component --------------------------


def _read(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return None


def process_table() -> dict[int, tuple[int, str, float]]:
    """pid → (ppid, comm, cpu seconds) for every process."""
    table: dict[int, tuple[int, str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        raw = _read(f"/proc/{pid}/stat")
        if raw is None:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        table[pid] = (int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return table


def descendants(root: int, table: dict[int, tuple[int, str, float]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        if pid in table:
            found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def rss_mb(pid: int) -> float | None:
    raw = _read(f"/proc/{pid}/status")
    if raw is None:
        return None
    for line in raw.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def total_busy_seconds() -> float:
    raw = _read("/proc/stat") or ""
    fields = raw.splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


@dataclass
class CpuSnapshot:
    at: float
    busy: float
    groups: dict[str, float]
    server_processes: dict[int, float] = field(default_factory=dict)  # pid → CPU seconds
    pg_processes: dict[int, float] = field(default_factory=dict)  # postgres pid → CPU seconds
    foreign_pg: set[int] = field(default_factory=set)  # backends of other databases


class Sampler:
    """Samples the RSS of every process of the watched servers (a thread reading /proc, every
    0.2 s), and takes CPU snapshots grouped as server / postgres / redis / loadgen / bench / other.

    "postgres" is the PostgreSQL server minus the client backends of *other* databases (other
    people's tests on this machine count as "other"); "loadgen" is the children of this process
    (the load generators), "bench" this process (the load generator too with --loadgen-procs 0,
    plus this sampler)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.servers: dict[str, int] = {}
        self.max_rss: dict[int, float] = {}
        self.period_rss: dict[str, dict[int, float]] = {}
        self.period = "setup"
        self.labels: dict[int, str] = {}
        self.roots: set[int] = set()
        self.database = ""
        self.foreign_pg: set[int] = set()
        self._admin: Any = None
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, label: str, pid: int) -> None:
        self.servers[label] = pid
        self.roots.add(pid)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def begin_period(self, name: str) -> None:
        self.sample()
        self.period = name

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                self.sample()
            self._stop.wait(self._interval)

    def sample(self) -> None:
        table = process_table()
        period = self.period_rss.setdefault(self.period, {})
        for label, root in list(self.servers.items()):
            for pid in descendants(root, table):
                rss = rss_mb(pid)
                if rss is None:
                    continue
                self.max_rss[pid] = max(rss, self.max_rss.get(pid, 0.0))
                period[pid] = max(rss, period.get(pid, 0.0))
                if pid not in self.labels:
                    cmdline = (_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()
                    self.labels[pid] = f"{label} pid {pid}: {cmdline[:70]}"

    def _is_supervisor(self, label: str, pid: int) -> bool:
        """The root of a multi-process server only supervises its workers."""
        if pid != self.servers[label]:
            return False
        return any(other != pid and self.labels.get(other, "").startswith(f"{label} ") for other in self.max_rss)

    def worker_pids(self, label: str) -> list[int]:
        table = process_table()
        pids = descendants(self.servers[label], table)
        workers = [pid for pid in pids if pid != self.servers[label] and "resource_tracker" not in
                   (_read(f"/proc/{pid}/cmdline") or "")]
        return workers or [self.servers[label]]

    def workers_max_rss(self, label: str, period: str | None = None) -> float:
        table = self.max_rss if period is None else self.period_rss.get(period, {})
        return max((rss for pid, rss in table.items() if self.labels.get(pid, "").startswith(f"{label} ")
                    and not self._is_supervisor(label, pid)), default=0.0)

    def rss_detail(self, label: str) -> list[str]:
        lines = []
        for pid, rss in sorted(self.max_rss.items()):
            if self.labels.get(pid, "").startswith(f"{label} "):
                role = "  (supervisor)" if self._is_supervisor(label, pid) else ""
                lines.append(f"    {self.labels[pid]}  max RSS {rss:.1f} MB{role}")
        return lines

    # CPU ---------------------------------------------------------------------------------

    async def attach_database(self, database: str) -> None:
        import asyncpg

        self.database = database
        self._admin = await asyncpg.connect(ADMIN_DSN)

    async def detach_database(self) -> None:
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    async def snapshot(self) -> CpuSnapshot:
        if self._admin is not None:
            rows = await self._admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND datname IS DISTINCT FROM $1 AND pid <> pg_backend_pid()", self.database)
            self.foreign_pg = {row["pid"] for row in rows}
        return self.cpu_snapshot()

    def cpu_snapshot(self) -> CpuSnapshot:
        table = process_table()
        groups: dict[str, float] = {"server": 0.0, "postgres": 0.0, "redis": 0.0, "loadgen": 0.0, "bench": 0.0,
                                    "profiler": 0.0}
        server_pids: set[int] = set()
        for root in self.roots:
            server_pids.update(descendants(root, table))
        loadgen_pids = set(descendants(os.getpid(), table)) - server_pids - {os.getpid()}
        per_process: dict[int, float] = {}
        pg_processes: dict[int, float] = {}
        for pid, (_, comm, cpu) in table.items():
            if pid in server_pids:
                groups["server"] += cpu
                per_process[pid] = cpu
            elif comm == "py-spy":
                groups["profiler"] += cpu
            elif pid in loadgen_pids:
                groups["loadgen"] += cpu
            elif pid == os.getpid():
                groups["bench"] += cpu
            elif comm.startswith("postgres"):
                pg_processes[pid] = cpu
            elif comm.startswith("redis"):
                groups["redis"] += cpu
        return CpuSnapshot(time.perf_counter(), total_busy_seconds(), groups, per_process, pg_processes,
                           set(self.foreign_pg))

    async def pg_activity(self, start: float, end: float, every: float = 0.05) -> dict[str, float]:
        """Average number of this database's client sessions in each state over [start, end]:
        what the server's connections are doing (running, waiting for a row lock, waiting for
        the application inside a transaction, idle in the pool)."""
        totals: Counter[str] = Counter()
        samples = 0
        if self._admin is None:
            return {}
        await _sleep_until(start)
        while time.perf_counter() < end:
            rows = await self._admin.fetch(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = $1 "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()", self.database)
            samples += 1
            for row in rows:
                totals[_session_state(row["state"], row["wait_event_type"], row["wait_event"])] += 1
            await asyncio.sleep(every)
        return {state: count / samples for state, count in totals.items()} if samples else {}

    async def wait_quiet(self, budget: list[float], threshold: float = 0.3) -> float:
        """Wait (spending at most budget[0] seconds, shared by the whole run) until processes that
        are not part of the benchmark use less than `threshold` cores. Returns what they used last."""
        while True:
            before = await self.snapshot()
            await asyncio.sleep(0.5)
            usage = CpuUsage.between(before, await self.snapshot())
            other = usage.cores["other"]
            if other < threshold or budget[0] <= 0:
                return other
            budget[0] -= 0.5


def _session_state(state: str | None, wait_type: str | None, wait_event: str | None) -> str:
    if state == "idle in transaction":
        return "in txn, waiting for the app"
    if state == "idle":
        return "idle (in the pool)"
    if wait_type == "Lock":
        return f"waiting for a lock ({wait_event})"
    if wait_type in ("LWLock", "IO", "IPC") or (wait_type == "Client" and state == "active"):
        return f"active, {wait_type} wait"
    if state == "active":
        return "active (running)"
    return str(state)


@dataclass
class CpuUsage:
    """Cores used per component over a window (1.0 = one core fully busy)."""

    seconds: float
    cores: dict[str, float]
    busy: float
    server_processes: list[float] = field(default_factory=list)  # cores of each busy server process

    @classmethod
    def between(cls, before: CpuSnapshot, after: CpuSnapshot) -> CpuUsage:
        span = max(after.at - before.at, 1e-9)
        cores = {name: (after.groups[name] - before.groups[name]) / span for name in before.groups}
        # PostgreSQL per process: a backend of another database (in either snapshot) is not ours;
        # a backend that started inside the window counts from zero.
        foreign = before.foreign_pg | after.foreign_pg
        cores["postgres"] = sum(cpu - before.pg_processes.get(pid, 0.0) for pid, cpu in after.pg_processes.items()
                                if pid not in foreign) / span
        busy = (after.busy - before.busy) / span
        cores["other"] = max(0.0, busy - sum(cores.values()))
        processes = {pid: (cpu - before.server_processes.get(pid, cpu)) / span
                     for pid, cpu in after.server_processes.items()}
        # The busiest server processes, for multi-worker servers (is the load spread evenly?).
        workers = sorted((share for share in processes.values() if share >= 0.01), reverse=True)
        return cls(span, cores, busy, workers)

    def describe(self) -> str:
        c = self.cores
        profiler = f"  py-spy {c['profiler']:.2f}" if c.get("profiler") else ""
        split = (" (" + " + ".join(f"{share:.2f}" for share in self.server_processes) + ")"
                 if len(self.server_processes) > 1 else "")
        return (f"server {c['server']:.2f}{split}  pg {c['postgres']:.2f}  loadgen {c['loadgen'] + c['bench']:.2f}  "
                f"redis {c['redis']:.2f}{profiler}  other {c['other']:.2f}  (busy {self.busy:.2f} of "
                f"{os.cpu_count()})")


# --- users through the API ------------------------------------------------------------------


async def register_users(base_url: str, count: int) -> list[str]:
    """Register and log in `count` users; their access tokens."""
    import httpx

    async def one(client: httpx.AsyncClient) -> str:
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        response = await client.post("/api/v1/auth/register",
                                     json={"email": email, "password": PASSWORD, "fullName": "Bench Passenger"})
        if response.status_code != 201:
            raise RuntimeError(f"register: {response.status_code} {response.text}")
        response = await client.post("/api/v1/auth/login",
                                     json={"email": email, "password": PASSWORD, "deviceName": "bench"})
        if response.status_code != 200:
            raise RuntimeError(f"login: {response.status_code} {response.text}")
        return str(response.json()["accessToken"])

    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        return list(await asyncio.gather(*(one(client) for _ in range(count))))


# --- load generation ------------------------------------------------------------------------


@dataclass
class LoadSpec:
    """What every virtual client repeats. kind: "http", or raw SQL: "sql_cond" (conditional UPDATE,
    then INSERT), "sql_lock" (SELECT FOR UPDATE, UPDATE, INSERT), "sql_cond_last" (INSERT, then
    the conditional UPDATE as the last statement before COMMIT)."""

    kind: str
    clients: int
    duration: float = 10.0
    warmup: float = 0.0
    attempts: int | None = None  # stop after this many requests in total (no warm-up, no deadline)
    client: str = "httpx"
    # http
    base_url: str = ""
    method: str = "GET"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    bodies: list[bytes] = field(default_factory=list)  # used round-robin; empty = no body
    tokens: list[str] = field(default_factory=list)  # bearer tokens, client i uses tokens[i % n]
    idempotency: bool = False
    connect_path: str = "/health/live"  # requested once per client to open its connection
    connect_spread: bool = True
    # sql
    dsn: str = ""
    cabin_id: str = ""
    flight_id: str = ""
    user_ids: list[str] = field(default_factory=list)
    reference_prefix: str = "0"
    reference_start: int = 0  # raw booking references count up from here (a new range every round)


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, requests started in the window
    statuses: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)  # error `code` of non-2xx answers
    ok: int = 0
    window: float = 0.0
    measure_start: float = 0.0  # perf_counter (CLOCK_MONOTONIC: the same in every process)
    measure_end: float = 0.0

    def merge(self, other: LoadResult) -> None:
        self.latencies.extend(other.latencies)
        self.statuses.update(other.statuses)
        self.codes.update(other.codes)
        self.ok += other.ok
        self.window = max(self.window, other.window)
        self.measure_start = min(self.measure_start or other.measure_start, other.measure_start)
        self.measure_end = max(self.measure_end, other.measure_end)

    @property
    def rate(self) -> float:
        return self.ok / self.window if self.window else 0.0

    def latency_ms(self, fraction: float) -> float:
        return percentile(sorted(self.latencies), fraction) * 1000

    def errors(self) -> str:
        parts = [f"{status} x{count}" for status, count in sorted(self.statuses.items()) if not status.startswith("2")]
        parts += [f"{code} x{count}" for code, count in sorted(self.codes.items())]
        return ", ".join(parts) or "none"


class _Clock:
    """Shared by the virtual clients of one process: the window and the attempt budget."""

    def __init__(self, spec: LoadSpec, start_at: float) -> None:
        self.start_at = start_at
        # Clients connect one after another over CONNECT_SPREAD seconds before start_at, as
        # clients arriving over time would: a burst of simultaneous connects lands on whichever
        # server worker wakes first (all 16 on one uvicorn worker of two, in practice).
        self._spread = CONNECT_SPREAD / max(1, spec.clients) if spec.connect_spread else 0.0
        self.measure_start = start_at + (0.0 if spec.attempts else spec.warmup)
        self.measure_end = float("inf") if spec.attempts else self.measure_start + spec.duration
        self.remaining = spec.attempts

    def connect_at(self, index: int) -> float:
        return self.start_at - CONNECT_SPREAD - 0.05 + index * self._spread

    def next_request(self) -> bool:
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
            return True
        return time.perf_counter() < self.measure_end


def _record(result: LoadResult, clock: _Clock, started: float, ended: float, status: str, code: str | None) -> None:
    if started < clock.measure_start:
        return
    result.latencies.append(ended - started)
    result.statuses[status] += 1
    if status.startswith("2"):
        result.ok += 1
    elif code:
        result.codes[code] += 1
    result.window = max(result.window, ended - clock.measure_start)


def _error_code(body: bytes) -> str | None:
    try:
        return str(json.loads(body).get("code"))
    except (ValueError, AttributeError):
        return None


def _request_headers(spec: LoadSpec, client_index: int) -> dict[str, str]:
    headers = dict(spec.headers)
    if spec.tokens:
        headers["Authorization"] = f"Bearer {spec.tokens[client_index % len(spec.tokens)]}"
    if spec.bodies:
        headers["Content-Type"] = "application/json"
    return headers


async def _httpx_client(spec: LoadSpec, index: int, clock: _Clock, result: LoadResult) -> None:
    import httpx

    headers = _request_headers(spec, index)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=spec.base_url, limits=limits, timeout=60, headers=headers) as client:
        await _sleep_until(clock.connect_at(index))
        with contextlib.suppress(httpx.HTTPError):
            await client.get(spec.connect_path)  # opens this client's keep-alive connection
        await _sleep_until(clock.start_at)
        n = index
        while clock.next_request():
            extra = {"Idempotency-Key": str(uuid.uuid4())} if spec.idempotency else None
            body = spec.bodies[n % len(spec.bodies)] if spec.bodies else None
            n += spec.clients
            started = time.perf_counter()
            try:
                response = await client.request(spec.method, spec.path, content=body, headers=extra)
                status, code = str(response.status_code), (
                    None if response.status_code < 300 else _error_code(response.content))
            except httpx.HTTPError as exc:
                status, code = type(exc).__name__, None
            _record(result, clock, started, time.perf_counter(), status, code)


class _RawConnection:
    """HTTP/1.1 keep-alive over asyncio streams; enough for these JSON endpoints."""

    def __init__(self, base_url: str) -> None:
        from urllib.parse import urlparse

        parsed = urlparse(base_url)
        self.host, self.port = parsed.hostname or HOST, parsed.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(head + body)
        raw_head = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            content = b"".join(p[:-2] for p in parts)
        else:
            content = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.writer = self.reader = None


async def _raw_client(spec: LoadSpec, index: int, clock: _Clock, result: LoadResult) -> None:
    connection = _RawConnection(spec.base_url)
    headers = _request_headers(spec, index)
    fixed = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    prefix = f"{spec.method} {spec.path} HTTP/1.1\r\nHost: {connection.host}:{connection.port}\r\n{fixed}"
    await _sleep_until(clock.connect_at(index))
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
        host = f"Host: {connection.host}:{connection.port}\r\n"
        await connection.request(f"GET {spec.connect_path} HTTP/1.1\r\n{host}Content-Length: 0\r\n\r\n".encode(), b"")
    await _sleep_until(clock.start_at)
    n = index
    try:
        while clock.next_request():
            body = spec.bodies[n % len(spec.bodies)] if spec.bodies else b""
            n += spec.clients
            extra = f"Idempotency-Key: {uuid.uuid4()}\r\n" if spec.idempotency else ""
            head = f"{prefix}{extra}Content-Length: {len(body)}\r\n\r\n".encode("latin-1")
            started = time.perf_counter()
            try:
                status_code, content = await connection.request(head, body)
                status, code = str(status_code), None if status_code < 300 else _error_code(content)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                await connection.close()
                status, code = type(exc).__name__, None
            _record(result, clock, started, time.perf_counter(), status, code)
    finally:
        await connection.close()


SQL_TAKE_CONDITIONAL = (
    "UPDATE cabins SET seats_available = seats_available - 1 "
    "WHERE id = $1 AND seats_available >= 1 RETURNING seats_available"
)
SQL_LOCK = "SELECT seats_available FROM cabins WHERE id = $1 FOR UPDATE"
SQL_TAKE_LOCKED = "UPDATE cabins SET seats_available = seats_available - 1 WHERE id = $1"
SQL_INSERT_BOOKING = (
    "INSERT INTO bookings (id, reference, user_id, flight_id, cabin_id, cabin_class, seat_count, contact_email, "
    "total_minor, currency, status, expires_at, updated_at, created_at) "
    "VALUES ($1, $2, $3, $4, $5, 'economy', 1, 'bench@example.com', 45000, 'SAR', 'reserved', "
    "now() + interval '30 minutes', now(), now())"
)


class _SoldOut(Exception):
    """Rolls the raw transaction back (its booking row included)."""


_REF_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _reference(prefix: str, process_index: int, counter: int) -> str:
    """6 characters starting with a digit (0/1/2), which the product's locator alphabet never uses;
    unique per (prefix, load process, counter < 36**4)."""
    digits = []
    for _ in range(4):
        counter, rest = divmod(counter, 36)
        digits.append(_REF_DIGITS[rest])
    return prefix + _REF_DIGITS[process_index % 36] + "".join(reversed(digits))


async def _sql_client(spec: LoadSpec, index: int, clock: _Clock, result: LoadResult, process_index: int,
                      counter: list[int]) -> None:
    """One asyncpg connection doing the seat decrement and a booking insert in one transaction."""
    import asyncpg

    connection = await asyncpg.connect(spec.dsn, server_settings={"application_name": "ais-bench-raw",
                                                                  "timezone": "UTC"})
    cabin_id, flight_id = uuid.UUID(spec.cabin_id), uuid.UUID(spec.flight_id)
    user_id = uuid.UUID(spec.user_ids[index % len(spec.user_ids)])
    try:
        await _sleep_until(clock.start_at)
        while clock.next_request():
            counter[0] += 1
            reference = _reference(spec.reference_prefix, process_index, counter[0])
            started = time.perf_counter()
            status = "200"
            try:
                async with connection.transaction():
                    if spec.kind == "sql_cond_last":
                        # The booking first, the seat decrement last: the hot row is locked for one
                        # round trip (UPDATE → COMMIT) instead of two.
                        await connection.execute(SQL_INSERT_BOOKING, uuid.uuid4(), reference, user_id, flight_id,
                                                 cabin_id)
                        if await connection.fetchval(SQL_TAKE_CONDITIONAL, cabin_id) is None:
                            raise _SoldOut
                        left = -1
                    elif spec.kind == "sql_cond":
                        left = await connection.fetchval(SQL_TAKE_CONDITIONAL, cabin_id)
                    else:
                        left = await connection.fetchval(SQL_LOCK, cabin_id)
                        if left is not None and left >= 1:
                            await connection.execute(SQL_TAKE_LOCKED, cabin_id)
                        else:
                            left = None
                    if left is None:
                        status = "409"
                    elif left >= 0:
                        await connection.execute(SQL_INSERT_BOOKING, uuid.uuid4(), reference, user_id, flight_id,
                                                 cabin_id)
            except _SoldOut:
                status = "409"
            except asyncpg.PostgresError as exc:
                status = type(exc).__name__
            _record(result, clock, started, time.perf_counter(), status, "SEATS_UNAVAILABLE" if status == "409"
                    else None)
    finally:
        await connection.close()


async def _sleep_until(moment: float) -> None:
    delay = moment - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def _drive(spec: LoadSpec, client_indexes: list[int], start_at: float, process_index: int) -> LoadResult:
    result = LoadResult()
    clock = _Clock(spec, start_at)
    counter = [spec.reference_start]
    if spec.kind == "http":
        worker = _raw_client if spec.client == "raw" else _httpx_client
        tasks = [worker(spec, i, clock, result) for i in client_indexes]
    else:
        tasks = [_sql_client(spec, i, clock, result, process_index, counter) for i in client_indexes]
    await asyncio.gather(*tasks)
    result.measure_start = clock.measure_start
    result.measure_end = clock.measure_start + result.window
    return result


def run_async(coroutine: Any) -> Any:
    """Run on uvloop (as the server does) when it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _drive_in_process(spec: LoadSpec, client_indexes: list[int], start_at: float, process_index: int) -> LoadResult:
    return run_async(_drive(spec, client_indexes, start_at, process_index))  # type: ignore[no-any-return]


def _split(spec: LoadSpec, parts: int) -> list[tuple[LoadSpec, list[int]]]:
    """Clients dealt round-robin to `parts` processes; the attempt budget divided the same way."""
    shares = []
    for part in range(parts):
        indexes = list(range(part, spec.clients, parts))
        if not indexes:
            continue
        share = LoadSpec(**{**spec.__dict__})
        if spec.attempts is not None:
            share.attempts = spec.attempts // parts + (1 if part < spec.attempts % parts else 0)
        shares.append((share, indexes))
    return shares


@dataclass
class Phase:
    name: str
    result: LoadResult
    cpu: CpuUsage | None
    other_before: float = 0.0  # cores used by unrelated processes just before the phase
    profile: list[str] = field(default_factory=list)
    pg_sessions: dict[str, float] = field(default_factory=dict)  # average sessions per state
    profile_files: list[Path] = field(default_factory=list)


@dataclass
class RunOptions:
    """How every phase of a run is driven (from the command line). `close()` it at the end."""

    procs: int = 1
    rounds: int = 2  # each phase's duration is split into this many interleaved rounds
    quiet_budget: list[float] = field(default_factory=lambda: [20.0])  # seconds, shared by the run
    profile_dir: Path | None = None  # py-spy the server workers during HTTP phases
    profile_rate: int = 200
    profile_native: bool = False
    _pool: Any = None

    def pool(self) -> Any:
        """Load generator processes, started once (spawn) and reused by every phase."""
        if self._pool is None:
            self._pool = multiprocessing.get_context("spawn").Pool(processes=self.procs)
            self._pool.map(_ready, range(self.procs))  # pay the start-up (imports) outside any window
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None


def _ready(_: int) -> bool:
    import httpx  # noqa: F401 - imported once per load generator process, before any window

    return True


@dataclass
class PhasePlan:
    name: str
    spec: LoadSpec
    profile_label: str | None = None  # py-spy this server's workers (with --profile)


async def run_phases(plans: Sequence[PhasePlan], options: RunOptions, sampler: Sampler) -> list[Phase]:
    """Every plan for its whole duration, split into `options.rounds` rounds run interleaved
    (A B C A B C), so a burst of unrelated load on the machine hits every phase alike."""
    rounds = max(1, options.rounds)
    parts: dict[str, list[Phase]] = {plan.name: [] for plan in plans}
    for round_index in range(rounds):
        for plan in plans:
            spec = LoadSpec(**{**plan.spec.__dict__, "duration": plan.spec.duration / rounds,
                               "reference_start": round_index * 36**4 // rounds})
            parts[plan.name].append(await run_load(spec, options, sampler, plan.name, plan.profile_label))
    return [_combine(plan.name, parts[plan.name]) for plan in plans]


def _combine(name: str, parts: list[Phase]) -> Phase:
    if len(parts) == 1:
        phase = parts[0]
        phase.profile = summarize_profile(phase.profile_files, name) if phase.profile_files else []
        return phase
    result = LoadResult()
    for part in parts:
        result.latencies.extend(part.result.latencies)
        result.statuses.update(part.result.statuses)
        result.codes.update(part.result.codes)
        result.ok += part.result.ok
        result.window += part.result.window
    cpus = [part.cpu for part in parts if part.cpu is not None]
    cpu = None
    if cpus:
        seconds = sum(c.seconds for c in cpus)
        cores = {key: sum(c.cores[key] * c.seconds for c in cpus) / seconds for key in cpus[0].cores}
        ranks = max(len(c.server_processes) for c in cpus)
        split = [sum(c.server_processes[i] * c.seconds for c in cpus if i < len(c.server_processes)) / seconds
                 for i in range(ranks)]
        cpu = CpuUsage(seconds, cores, sum(c.busy * c.seconds for c in cpus) / seconds, split)
    sessions: Counter[str] = Counter()
    for part in parts:
        for state, count in part.pg_sessions.items():
            sessions[state] += count / len(parts)
    files = [f for part in parts for f in part.profile_files]
    return Phase(name, result, cpu, max(p.other_before for p in parts),
                 summarize_profile(files, name) if files else [], dict(sessions), files)


async def run_load(spec: LoadSpec, options: RunOptions, sampler: Sampler, name: str,
                   profile_label: str | None = None) -> Phase:
    """Run the load once (in the load generator processes, or in this one with procs=0), with a
    CPU breakdown of the measured window (snapshots of /proc taken by this process at its edges)
    and what this database's sessions were doing. With `profile_label` and a profile directory,
    py-spy records that server's workers during the measured window."""
    other_before = await sampler.wait_quiet(options.quiet_budget)
    pool = options.pool() if options.procs > 0 else None
    sampler.begin_period(name)
    start_at = time.perf_counter() + CONNECT_SPREAD + 0.4  # clients connect before start_at
    measure_start = start_at + (0.0 if spec.attempts else spec.warmup)
    result = LoadResult()
    if pool is None:
        pending = [asyncio.ensure_future(_drive(spec, list(range(spec.clients)), start_at, 0))]
    else:
        loop = asyncio.get_running_loop()
        pending = [
            loop.run_in_executor(None, pool.apply, _drive_in_process, (share, indexes, start_at, i))
            for i, (share, indexes) in enumerate(_split(spec, options.procs))
        ]
    profile = None
    if profile_label and options.profile_dir and not spec.attempts:
        profile = asyncio.ensure_future(_profile(sampler.worker_pids(profile_label), measure_start, spec.duration,
                                                 options.profile_dir, name, options.profile_rate,
                                                 options.profile_native))
    cpu, activity = None, {}
    if not spec.attempts:
        before = await _snapshot_at(sampler, measure_start)
        activity = await sampler.pg_activity(measure_start + 0.25, measure_start + spec.duration - 0.25)
        after = await _snapshot_at(sampler, measure_start + spec.duration)
        cpu = CpuUsage.between(before, after)
    for partial in await asyncio.gather(*pending):
        result.merge(partial)
    profile_files = await profile if profile is not None else []
    sampler.begin_period("idle")
    return Phase(name, result, cpu, other_before, [], activity, profile_files)


async def _snapshot_at(sampler: Sampler, moment: float) -> CpuSnapshot:
    await _sleep_until(moment)
    return await sampler.snapshot()


# --- profiling with py-spy ------------------------------------------------------------------


async def _profile(pids: list[int], start: float, duration: float, out_dir: Path, name: str, rate: int,
                   native: bool) -> list[Path]:
    binary = _profiler(out_dir)
    if binary is None:
        raise SystemExit("--profile needs py-spy in the venv: .venv/bin/pip install py-spy")
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:40]
    await _sleep_until(start)
    outputs, processes = [], []
    for pid in pids:
        output = out_dir / f"{slug}-{pid}-{secrets.token_hex(2)}.txt"
        outputs.append(output)
        processes.append(await asyncio.create_subprocess_exec(
            str(binary), "record", "--pid", str(pid), "--duration", str(max(1, int(duration))), "--rate", str(rate),
            "--format", "raw", "--gil", *(["--native"] if native else ["--nonblocking"]), "--output", str(output),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for process in processes:
        await process.wait()
    return [o for o in outputs if o.exists()]


def _profiler(out_dir: Path) -> Path | None:
    binary = VENV_BIN / "py-spy"
    if not binary.exists():
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    return binary


def _frame(raw: str) -> tuple[str, str]:
    """'func (path/to/module.py:123)' → ('func', 'path/to/module.py')."""
    function, _, where = raw.rpartition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            if marker == "/lib/python3":
                where = "stdlib/" + where.split("/", 1)[-1]
            break
    return function or raw, where


def _package(where: str) -> str:
    parts = where.split("/")
    if parts[0] == "stdlib":
        return "stdlib " + (parts[1].removesuffix(".py") if len(parts) > 1 else "")
    return parts[0].removesuffix(".py")


# Library internals worth naming in a profile summary: substring of a frame → what it is.
NOTABLE_FRAMES = {
    "._async_ping (": "SQLAlchemy pool_pre_ping (BEGIN; SELECT; ROLLBACK at every pool checkout)",
    "._start_transaction (": "asyncpg BEGIN (SQLAlchemy autobegin)",
    "gc_collect_main (": "Python cyclic garbage collector (native frames only)",
    "solve_dependencies (": "FastAPI dependency solving and request validation",
    "serialize_response (": "FastAPI response validation and serialisation",
    "orm_execute_statement (": "SQLAlchemy ORM statement execution",
    "Session.flush (": "SQLAlchemy unit of work flush",
    "._generate_cache_key (": "SQLAlchemy SQL cache-key generation",
    "._finalize_fairy (": "SQLAlchemy connection return to the pool (reset: ROLLBACK)",
    "model_dump_json (": "pydantic model_dump_json",
    "RedisStore._call (": "Redis round trips",
    "REQUEST_LATENCY": "prometheus histogram",
    "write (libc": "write(2) syscalls (sockets; native frames only)",
}


def summarize_profile(paths: Sequence[Path], name: str, top: int = 12) -> list[str]:
    total = 0
    self_time: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    notable: Counter[str] = Counter()
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            samples = int(count)
            frames = [_frame(f) for f in stack.split(";")[2:]]  # drop the process and thread frames
            if not frames:
                continue
            total += samples
            function, where = frames[-1]
            self_time[f"{function} ({where})"] += samples
            packages[_package(where)] += samples
            for label in {f"{f} ({w})" for f, w in frames if w.startswith("ais/")}:
                inclusive[label] += samples
            raw_frames = stack.split(";")
            for marker, label in NOTABLE_FRAMES.items():
                if any(marker in frame for frame in raw_frames):
                    notable[label] += samples
    if not total:
        return [f"  profile of {name}: no samples"]

    def share(counter: Counter[str]) -> list[str]:
        return [f"      {count / total:6.1%}  {label}" for label, count in counter.most_common(top)]

    return [
        f"  py-spy profile of the server during '{name}' ({total} samples taken while a thread held the GIL, "
        "so idle waiting is excluded):",
        "    self time by package:",
        *share(packages),
        "    self time by function:",
        *share(self_time),
        "    inclusive time of AIS functions (SQLAlchemy's async layer runs ORM work in greenlets, whose stacks "
        "py-spy shows without their AIS callers, so these exclude most SQLAlchemy time):",
        *share(inclusive),
        "    inclusive time of notable library internals:",
        *share(notable),
    ]


# --- output -------------------------------------------------------------------------------


def phase_table(phases: Sequence[Phase], unit: str = "ok/s") -> list[str]:
    lines = [f"  {'phase':<44} {unit:>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'n':>7}  errors"]
    for phase in phases:
        r = phase.result
        lines.append(
            f"  {phase.name:<44} {r.rate:>9.1f} {r.latency_ms(0.50):>8.1f} {r.latency_ms(0.95):>8.1f} "
            f"{r.latency_ms(0.99):>8.1f} {len(r.latencies):>7}  {r.errors()}"
        )
    lines.append("  cores used in each measured window (1.00 = one core; loadgen = the load generator):")
    for phase in phases:
        if phase.cpu is not None:
            per_request = ""
            if phase.result.ok:
                server_ms = phase.cpu.cores["server"] * phase.cpu.seconds / phase.result.ok * 1000
                pg_ms = phase.cpu.cores["postgres"] * phase.cpu.seconds / phase.result.ok * 1000
                per_request = f"  | per ok request: server {server_ms:.2f} ms, pg {pg_ms:.2f} ms CPU"
            lines.append(f"    {phase.name:<42} {phase.cpu.describe()}{per_request}")
    if any(phase.pg_sessions for phase in phases):
        lines.append("  this database's PostgreSQL sessions, average number in each state during the window:")
        for phase in phases:
            if phase.pg_sessions:
                states = ", ".join(f"{state} {count:.1f}" for state, count in
                                   sorted(phase.pg_sessions.items(), key=lambda item: -item[1]) if count >= 0.05)
                lines.append(f"    {phase.name:<42} {states}")
    return lines


def describe_setup(args: argparse.Namespace, server: Server) -> list[str]:
    where = (f"{args.loadgen_procs} separate process(es)" if args.loadgen_procs > 0
             else "the bench process itself")
    cache = f"Redis db {args.redis_db}" if args.redis_db >= 0 else "in-process memory store"
    return [
        f"  machine: {os.cpu_count()} cores shared by the server, PostgreSQL, Redis and the load generator "
        "(all figures and ratios come from this one run)",
        f"  server: {server.name}, workers={server.workers}, DB pool {args.pool_size}+{args.max_overflow}, "
        f"cache: {cache}",
        f"  load: {args.clients} clients, {args.loadgen} client (one keep-alive connection each), in {where}; "
        f"{args.duration:g} s measured per phase in {args.rounds} interleaved round(s), each after "
        f"{args.warmup:g} s warm-up",
    ]


def noise_lines(phases: Sequence[Phase], threshold: float = 0.3) -> list[str]:
    """The load generator shares the cores; unrelated processes (other test runs) must not."""
    noisy = [p for p in phases if p.cpu is not None and p.cpu.cores["other"] >= threshold]
    lines = ["  note: the load generator is Python on the same cores as the server and PostgreSQL; its share is "
             "the 'loadgen' column."]
    if noisy:
        lines.append("  WARNING: unrelated processes used CPU during " + ", ".join(
            f"'{p.name}' ({p.cpu.cores['other']:.2f} cores)" for p in noisy if p.cpu is not None)
            + ": figures from those phases are depressed; rerun on a quiet machine.")
    return lines


def rss_lines(sampler: Sampler, label: str, load_periods: Sequence[str]) -> list[str]:
    """Max RSS of any worker during the load phases (the target), and during setup."""
    during = max((sampler.workers_max_rss(label, period) for period in load_periods), default=0.0)
    setup = sampler.workers_max_rss(label, "setup")
    verdict = "PASS" if during < RSS_LIMIT_MB else "OVER"
    return [
        f"  {label} worker max RSS during the load phases: {during:.1f} MB (limit {RSS_LIMIT_MB:.0f} MB) {verdict}; "
        f"during setup (start-up, registering and logging in users concurrently): {setup:.1f} MB",
        *sampler.rss_detail(label),
    ]


@contextlib.contextmanager
def work_directory() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ais-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
