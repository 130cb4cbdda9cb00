"""The tables the benchmarks print: phases (rates, latencies, CPU by component, PostgreSQL
sessions), the setup, noise warnings, worker RSS, and the summary of targets (figure, the
reference measured in the same run, the ratio, the target, met or NOT MET)."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from harness.phases import Phase
from harness.sampling import Sampler
from harness.servers import Server

RSS_LIMIT_MB = 250.0


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
        lines.append("  the database's PostgreSQL sessions, average number in each state during the window:")
        for phase in phases:
            if phase.pg_sessions:
                states = ", ".join(f"{state} {count:.1f}" for state, count in
                                   sorted(phase.pg_sessions.items(), key=lambda item: -item[1]) if count >= 0.05)
                lines.append(f"    {phase.name:<42} {states}")
    return lines


def describe_setup(args: argparse.Namespace, *servers: Server) -> list[str]:
    where = (f"{args.loadgen_procs} separate process(es)" if args.loadgen != "wrk" and args.loadgen_procs > 0
             else "a process of its own" if args.loadgen == "wrk" else "the bench process itself")
    cache = f"Redis db {args.redis_db}" if args.redis_db >= 0 else "in-process memory store"
    pool = ("the product's default" if args.pool_size is None and args.max_overflow is None
            else f"{args.pool_size if args.pool_size is not None else 'default'}+"
                 f"{args.max_overflow if args.max_overflow is not None else 'default'}")
    return [
        f"  machine: {os.cpu_count()} cores shared by the servers, PostgreSQL, Redis and the load generator "
        "(all figures and ratios come from this one run)",
        *(f"  server: {server.name}, workers={server.workers}" for server in servers),
        f"  settings: DB pool {pool}, cache: {cache}, log level "
        f"{args.log_level or 'the product default'}, abuse limits raised (MAX_HELD_SEATS, BOOKING_RATE_PER_MINUTE, "
        "login/register rates), periodic jobs off",
        f"  load: {f'{args.clients} clients, ' if getattr(args, 'clients', None) else ''}"
        f"{args.loadgen} (one keep-alive connection per client), in {where}; "
        f"{args.duration:g} s measured per phase in {args.rounds} interleaved round(s), each after "
        f"{args.warmup:g} s warm-up",
    ]


def noise_lines(phases: Sequence[Phase], threshold: float = 0.3) -> list[str]:
    """The load generator shares the cores; unrelated processes (other test runs) must not."""
    noisy = [p for p in phases if p.cpu is not None and p.cpu.cores["other"] >= threshold]
    lines = ["  note: the load generator runs on the same cores as the server and PostgreSQL; its share is "
             "the 'loadgen' column."]
    if noisy:
        lines.append("  WARNING: unrelated processes used CPU during " + ", ".join(
            f"'{p.name}' ({p.cpu.cores['other']:.2f} cores)" for p in noisy if p.cpu is not None)
            + ": figures from those phases are depressed; rerun on a quiet machine.")
    return lines


def machine_lines(phases: Sequence[Phase]) -> list[str]:
    """How busy the machine was apart from the benchmark, and what the load generator took."""
    measured = [phase for phase in phases if phase.cpu is not None]
    if not measured:
        return []
    other = [phase.cpu.cores["other"] for phase in measured if phase.cpu is not None]
    loadgen = [phase.cpu.cores["loadgen"] + phase.cpu.cores["bench"] for phase in measured if phase.cpu is not None]
    return [f"  machine: unrelated processes used {sum(other) / len(other):.2f} cores on average during the measured "
            f"windows (at most {max(other):.2f}); the load generator at most {max(loadgen):.2f} cores"]


def worker_rss(sampler: Sampler, label: str, load_periods: Sequence[str]) -> float:
    """Max RSS of any worker process of server `label` during the given (load) periods."""
    return max((sampler.workers_max_rss(label, period) for period in load_periods), default=0.0)


def rss_lines(sampler: Sampler, label: str, load_periods: Sequence[str]) -> list[str]:
    """Max RSS of any worker during the load phases (the target), and during setup."""
    during = worker_rss(sampler, label, load_periods)
    setup = sampler.workers_max_rss(label, "setup")
    verdict = "PASS" if during < RSS_LIMIT_MB else "OVER"
    return [
        f"  {label} worker max RSS during the load phases: {during:.1f} MB (limit {RSS_LIMIT_MB:.0f} MB) {verdict}; "
        f"during setup (start-up, registering and logging in users concurrently): {setup:.1f} MB",
        *sampler.rss_detail(label),
    ]


@dataclass
class Target:
    """One line of the summary: a figure, the reference it is compared with (measured in the same
    run), and the target. `goal` is "times" (figure/reference >= threshold, shown as Nx), "share"
    (figure/reference >= threshold, shown as %), "at_least" (figure >= threshold; the ratio to the
    reference shown for information), "below" (figure < threshold) or "exactly"."""

    measure: str
    figure: float
    unit: str
    goal: str
    threshold: float
    reference: float | None = None
    reference_label: str = ""
    detail: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference is None or not self.reference or math.isnan(self.reference) or math.isnan(self.figure):
            return None
        return self.figure / self.reference

    @property
    def met(self) -> bool | None:
        if math.isnan(self.figure):
            return None
        if self.goal in ("times", "share"):
            return None if self.ratio is None else self.ratio >= self.threshold
        if self.goal == "at_least":
            return self.figure >= self.threshold
        if self.goal == "below":
            return self.figure < self.threshold
        return self.figure == self.threshold

    def target_text(self) -> str:
        if self.goal == "times":
            return f">= {self.threshold:g}x"
        if self.goal == "share":
            return f">= {self.threshold:.0%}"
        if self.goal == "at_least":
            return f">= {self.threshold:g} {self.unit}".rstrip()
        if self.goal == "below":
            return f"< {self.threshold:g} {self.unit}".rstrip()
        return f"= {self.threshold:g}"

    def ratio_text(self) -> str:
        ratio = self.ratio
        if ratio is None:
            return "-"
        return f"{ratio:.1%}" if self.goal == "share" else f"{ratio:.2f}x"


def _number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    digits = 0 if abs(value) >= 100 or unit in ("", "errors") else 1
    return f"{value:,.{digits}f} {unit}".rstrip()


def target_table(targets: Sequence[Target]) -> list[str]:
    header = f"  {'measurement':<46} {'figure':>14} {'reference (same run)':<40} {'ratio':>8}  {'target':<10} verdict"
    lines = [header, "  " + "-" * (len(header) - 2)]
    for t in targets:
        reference = f"{t.reference_label} {_number(t.reference, t.unit)}" if t.reference is not None else \
            t.reference_label
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[t.met]
        lines.append(f"  {t.measure:<46} {_number(t.figure, t.unit):>14} {reference:<40} {t.ratio_text():>8}  "
                     f"{t.target_text():<10} {verdict}")
        if t.detail:
            lines.append(f"  {'':<46} {t.detail}")
    return lines
