"""wrk as the load generator: C, one event loop per thread, a few microseconds of CPU per request,
so on a 2-core machine it leaves the cores to the server far better than any Python client.
bench/wrk/load.lua varies each request (bodies, bearer tokens, a fresh Idempotency-Key) and
writes the status counts, error codes and latency quantiles, which this module turns into a
LoadResult like the Python clients'. The latencies are wrk's, corrected for coordinated omission
as wrk's own summary is (a stall adds the samples that the connections it held up would have
sent), so their tail can be higher than a Python client's for the same server.

wrk opens all its connections at once; the per-worker CPU split printed with every phase shows
whether a multi-worker server got them spread (it does: its workers all wait in accept)."""

from __future__ import annotations

import asyncio
import bisect
import math
import secrets
import shutil
import tempfile
from pathlib import Path

from harness.load import LoadResult, LoadSpec
from harness.locations import WRK_SCRIPT


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def require_wrk() -> str:
    binary = wrk_binary()
    if binary is None:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (Debian/Ubuntu), or run with --loadgen raw")
    return binary


async def run_wrk(spec: LoadSpec, duration: float) -> LoadResult:
    """One wrk run of `duration` seconds (whole seconds, at least 1) against spec.base_url + spec.path."""
    binary = require_wrk()
    seconds = max(1, math.ceil(duration))
    with tempfile.TemporaryDirectory(prefix="ais-bench-wrk-") as work:
        directory = Path(work)
        env = {"BENCH_WRK_OUT": str(directory / "result.txt"), "BENCH_WRK_METHOD": spec.method}
        if spec.bodies:
            (directory / "bodies.txt").write_bytes(b"".join(body.replace(b"\n", b" ") + b"\n" for body in spec.bodies))
            env["BENCH_WRK_BODIES"] = str(directory / "bodies.txt")
        if spec.tokens:
            (directory / "tokens.txt").write_text("".join(token + "\n" for token in spec.tokens))
            env["BENCH_WRK_TOKENS"] = str(directory / "tokens.txt")
        if spec.idempotency:
            env["BENCH_WRK_RUN"] = secrets.token_hex(4)
        headers = dict(spec.headers)
        if spec.bodies:
            headers.setdefault("Content-Type", "application/json")
        command = [binary, "--threads", str(min(2, spec.clients)), "--connections", str(spec.clients),
                   "--duration", f"{seconds}s", "--timeout", f"{math.ceil(spec.timeout)}s", "--script", str(WRK_SCRIPT)]
        for name, value in headers.items():
            command += ["--header", f"{name}: {value}"]
        command.append(spec.base_url + spec.path)
        process = await asyncio.create_subprocess_exec(*command, env={"PATH": "/usr/bin:/bin", **env},
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await process.communicate()
        output = directory / "result.txt"
        if process.returncode != 0 or not output.exists():
            raise RuntimeError(f"wrk exited {process.returncode}: {stderr.decode(errors='replace')[-2000:]}"
                               f"{stdout.decode(errors='replace')[-2000:]}")
        return parse_result(output.read_text())


def parse_result(text: str) -> LoadResult:
    """The lines bench/wrk/load.lua writes → a LoadResult."""
    result = LoadResult()
    quantiles: list[tuple[float, float]] = []
    for line in text.splitlines():
        kind, *values = line.split()
        if kind == "duration_us":
            result.window = int(values[0]) / 1e6
        elif kind == "status":
            result.statuses[values[0]] += int(values[1])
            if values[0].startswith("2"):
                result.ok += int(values[1])
        elif kind == "code":
            result.codes[values[0]] += int(values[1])
        elif kind == "error" and values[0] != "status" and int(values[1]):
            # Socket-level errors (connect, read, write, timeout); status errors are counted per status.
            result.statuses[f"wrk {values[0]} error"] += int(values[1])
        elif kind == "latency_quantile":
            quantiles.append((float(values[0]), int(values[1]) / 1e6))
    result.latencies = _expand(sorted(quantiles), sum(result.statuses.values()))
    return result


def _expand(quantiles: list[tuple[float, float]], count: int) -> list[float]:
    """`count` latencies that follow wrk's quantile function (linear between its points), so that the
    rounds of a phase merge into one distribution as the Python clients' latencies do."""
    if not quantiles or not count:
        return []
    latencies = []
    points = [q for q, _ in quantiles]
    for k in range(count):
        q = (k + 0.5) / count
        i = min(max(1, bisect.bisect_left(points, q)), len(points) - 1)
        (q0, v0), (q1, v1) = quantiles[i - 1], quantiles[i]
        latencies.append(v0 if q1 == q0 else v0 + (v1 - v0) * (q - q0) / (q1 - q0))
    return latencies
