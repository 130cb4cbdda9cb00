"""What a phase asks of the load generator (LoadSpec) and what it measured (LoadResult), with the
clock that the virtual clients of one process share."""

from __future__ import annotations

import json
import math
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

CONNECT_SPREAD = 0.8  # seconds over which the in-Python virtual clients open their connections


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


@dataclass
class LoadSpec:
    """What every virtual client repeats.

    kind "http": HTTP requests by `client` = httpx | raw (in Python, bench/harness/clients.py) |
    wrk (bench/harness/wrk.py). Raw SQL in Python: "sql_cond" (conditional UPDATE, then INSERT),
    "sql_lock" (SELECT FOR UPDATE, UPDATE, INSERT), "sql_cond_last" (INSERT, then the conditional
    UPDATE as the last statement before COMMIT). "pgbench": the conditional UPDATE + INSERT by
    pgbench (bench/harness/pgbench.py)."""

    kind: str
    clients: int
    duration: float = 10.0
    warmup: float = 0.0
    attempts: int | None = None  # stop after this many requests in total (no warm-up, no deadline)
    client: str = "httpx"
    database: str | None = None  # whose PostgreSQL sessions to watch (default: every database of the run)
    # http
    base_url: str = ""
    method: str = "GET"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    bodies: list[bytes] = field(default_factory=list)  # used round-robin; empty = no body
    body_headers: list[dict[str, str]] = field(default_factory=list)  # with `once`: headers of each body
    once: bool = False  # send every body exactly once (attempts = len(bodies)), then stop
    tokens: list[str] = field(default_factory=list)  # bearer tokens, client i uses tokens[i % n]
    idempotency: bool = False  # a fresh Idempotency-Key on every request
    connect_path: str = "/health/live"  # requested once per client to open its connection
    connect_spread: bool = True
    timeout: float = 60.0
    # sql
    dsn: str = ""
    cabin_id: str = ""
    flight_id: str = ""
    user_ids: list[str] = field(default_factory=list)
    reference_prefix: str = "0"
    reference_start: int = 0  # raw booking references count up from here (a new range every round)

    @property
    def external(self) -> bool:
        """Driven by a program of its own (wrk, pgbench) rather than Python clients."""
        return self.kind == "pgbench" or (self.kind == "http" and self.client == "wrk")


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

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def latency_ms(self, fraction: float) -> float:
        return percentile(sorted(self.latencies), fraction) * 1000

    def failures(self) -> int:
        return sum(count for status, count in self.statuses.items() if not status.startswith("2"))

    def errors(self) -> str:
        parts = [f"{status} x{count}" for status, count in sorted(self.statuses.items()) if not status.startswith("2")]
        parts += [f"{code} x{count}" for code, count in sorted(self.codes.items())]
        return ", ".join(parts) or "none"


class Clock:
    """Shared by the virtual clients of one process: the window, the attempt budget, and with
    `once` the bodies still to send."""

    def __init__(self, spec: LoadSpec, start_at: float) -> None:
        self.start_at = start_at
        # Clients connect one after another over CONNECT_SPREAD seconds before start_at, as
        # clients arriving over time would: a burst of simultaneous connects lands on whichever
        # server worker wakes first (all 16 on one uvicorn worker of two, in practice).
        self._spread = CONNECT_SPREAD / max(1, spec.clients) if spec.connect_spread else 0.0
        self.measure_start = start_at + (0.0 if spec.attempts else spec.warmup)
        self.measure_end = float("inf") if spec.attempts else self.measure_start + spec.duration
        self.remaining = spec.attempts
        self.unsent: deque[int] | None = deque(range(len(spec.bodies))) if spec.once else None

    def connect_at(self, index: int) -> float:
        return self.start_at - CONNECT_SPREAD - 0.05 + index * self._spread

    def next_request(self) -> bool:
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
            return True
        return time.perf_counter() < self.measure_end

    def next_body(self, n: int, bodies: int) -> int:
        """Index of the body to send: the next unsent one with `once`, else round-robin."""
        if self.unsent is not None:
            return self.unsent.popleft()
        return n % bodies


def record(result: LoadResult, clock: Clock, started: float, ended: float, status: str, code: str | None) -> None:
    if started < clock.measure_start:
        return
    result.latencies.append(ended - started)
    result.statuses[status] += 1
    if status.startswith("2"):
        result.ok += 1
    elif code:
        result.codes[code] += 1
    result.window = max(result.window, ended - clock.measure_start)


def error_code(body: bytes) -> str | None:
    try:
        return str(json.loads(body).get("code"))
    except (ValueError, AttributeError):
        return None
