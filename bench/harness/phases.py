"""Phases: a load (LoadSpec) run against a server, split into rounds run interleaved with the
other phases (A B C A B C), so that a burst of unrelated load on the machine hits every phase
alike; each with a CPU breakdown of its measured window, what PostgreSQL's sessions were doing,
and optionally a py-spy profile of the server.

In-Python clients run in load generator processes (multiprocessing, spawn, started once per run)
so this process stays free to sample /proc; `procs=0` runs them here instead. wrk and pgbench
are programs of their own: a warm-up run first, then the measured run."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import multiprocessing
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.clients import drive, drive_in_process, split
from harness.load import CONNECT_SPREAD, LoadResult, LoadSpec
from harness.locations import sleep_until
from harness.pgbench import run_pgbench
from harness.profiling import profile_workers, summarize_profile
from harness.sampling import CpuSnapshot, CpuUsage, Sampler
from harness.wrk import run_wrk


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
    return [combine_rounds(plan.name, parts[plan.name]) for plan in plans]


def combine_rounds(name: str, parts: list[Phase]) -> Phase:
    """The rounds of one phase as one phase: their requests, windows and CPU added up."""
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
        shares = [sum(c.server_processes[i] * c.seconds for c in cpus if i < len(c.server_processes)) / seconds
                  for i in range(ranks)]
        cpu = CpuUsage(seconds, cores, sum(c.busy * c.seconds for c in cpus) / seconds, shares)
    sessions: dict[str, float] = {}
    for part in parts:
        for state, count in part.pg_sessions.items():
            sessions[state] = sessions.get(state, 0.0) + count / len(parts)
    files = [f for part in parts for f in part.profile_files]
    return Phase(name, result, cpu, max(p.other_before for p in parts),
                 summarize_profile(files, name) if files else [], dict(sessions), files)


def _external_runner(spec: LoadSpec) -> Callable[[LoadSpec, float], Awaitable[LoadResult]]:
    return run_pgbench if spec.kind == "pgbench" else run_wrk


async def run_load(spec: LoadSpec, options: RunOptions, sampler: Sampler, name: str,
                   profile_label: str | None = None) -> Phase:
    """Run the load once, with a CPU breakdown of the measured window (snapshots of /proc taken by
    this process at its edges) and what the database's sessions were doing. With `profile_label`
    and a profile directory, py-spy records that server's workers during the measured window."""
    other_before = await sampler.wait_quiet(options.quiet_budget)
    pending: list[asyncio.Future[LoadResult]]
    if spec.external:
        # wrk and pgbench run whole seconds: the window is what they really run.
        spec = dataclasses.replace(spec, duration=float(max(1, math.ceil(spec.duration))))
        runner = _external_runner(spec)
        if spec.warmup > 0:
            await runner(spec, spec.warmup)
        sampler.begin_period(name)
        # The program starts and connects in a few milliseconds; the window starts just after.
        start_at = time.perf_counter() + 0.2
        measure_start = start_at + 0.05
        pending = [asyncio.ensure_future(_at(start_at, runner(spec, spec.duration)))]
    else:
        pool = options.pool() if options.procs > 0 else None
        sampler.begin_period(name)
        start_at = time.perf_counter() + CONNECT_SPREAD + 0.4  # clients connect before start_at
        measure_start = start_at + (0.0 if spec.attempts else spec.warmup)
        if pool is None:
            pending = [asyncio.ensure_future(drive(spec, list(range(spec.clients)), start_at, 0))]
        else:
            loop = asyncio.get_running_loop()
            pending = [
                loop.run_in_executor(None, pool.apply, drive_in_process, (share, indexes, start_at, i))
                for i, (share, indexes) in enumerate(split(spec, options.procs))
            ]
    profile = None
    if profile_label and options.profile_dir and not spec.attempts:
        profile = asyncio.ensure_future(profile_workers(
            sampler.worker_pids(profile_label), measure_start, spec.duration, options.profile_dir, name,
            options.profile_rate, options.profile_native))
    cpu, activity = None, {}
    if spec.attempts:
        # A fixed number of requests: the window ends when the last one is answered.
        before = await _snapshot_at(sampler, measure_start)
        results = await asyncio.gather(*pending)
        cpu = CpuUsage.between(before, await sampler.snapshot())
    else:
        before = await _snapshot_at(sampler, measure_start)
        activity = await sampler.pg_activity(measure_start + 0.25, measure_start + spec.duration - 0.25,
                                             spec.database)
        after = await _snapshot_at(sampler, measure_start + spec.duration)
        cpu = CpuUsage.between(before, after)
        results = await asyncio.gather(*pending)
    result = LoadResult()
    for partial in results:
        result.merge(partial)
    profile_files = await profile if profile is not None else []
    sampler.begin_period("idle")
    return Phase(name, result, cpu, other_before, [], activity, profile_files)


async def _at(moment: float, work: Awaitable[LoadResult]) -> LoadResult:
    await sleep_until(moment)
    return await work


async def _snapshot_at(sampler: Sampler, moment: float) -> CpuSnapshot:
    await sleep_until(moment)
    return await sampler.snapshot()
