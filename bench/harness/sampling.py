"""/proc sampling while a benchmark runs: the RSS of every server process (a thread, every
0.2 s), CPU snapshots grouped by component, and what this run's PostgreSQL sessions are doing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from harness.database import ADMIN_DSN, connect
from harness.locations import CLK_TCK, sleep_until


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
        self.databases: list[str] = []
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

    async def attach_databases(self, *databases: str) -> None:
        """This run's databases: their backends count as "postgres", other databases' as "other"."""
        self.databases = list(databases)
        self._admin = await connect(ADMIN_DSN)

    async def detach_databases(self) -> None:
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    async def snapshot(self) -> CpuSnapshot:
        if self._admin is not None:
            rows = await self._admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND NOT (datname = ANY($1::text[])) AND pid <> pg_backend_pid()", self.databases)
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

    async def pg_activity(self, start: float, end: float, database: str | None = None,
                          every: float = 0.05) -> dict[str, float]:
        """Average number of client sessions of `database` (default: all of this run's) in each
        state over [start, end]: what the server's connections are doing (running, waiting for a
        row lock, waiting for the application inside a transaction, idle in the pool)."""
        totals: Counter[str] = Counter()
        samples = 0
        if self._admin is None:
            return {}
        watched = [database] if database else self.databases
        await sleep_until(start)
        while time.perf_counter() < end:
            rows = await self._admin.fetch(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = ANY($1::text[]) "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()", watched)
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
        # A process that exits inside the window takes its CPU time with it: never below zero.
        cores = {name: max(0.0, after.groups[name] - before.groups[name]) / span for name in before.groups}
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


